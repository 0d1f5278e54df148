"""FHIR resources of a DXA patient as an EHR's FHIR server holds them, for the CDS Hooks tests and the
service benchmark: the Patient, one Device per scanner, a BMD and a T-score Observation per site and
scan (LOINC codes of knowledge/fhir/binding.yaml), and the treatment as a MedicationStatement."""
from __future__ import annotations

import datetime as dt

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
# site -> side -> (BMD code, T-score code); None: the unlateralised code
CODES = {
    "lumbar_spine": {None: ("24966-4", "38267-1")},
    "total_hip": {"left": ("46278-8", "80946-7"), "right": ("46279-6", "80945-9"), None: ("38261-4", "38264-8")},
    "femoral_neck": {"left": ("80954-1", "80948-3"), "right": ("80953-3", "80947-5"), None: ("24701-5", "38263-0")},
}
RXNORM_CODES = {"alendronate": "46041", "teriparatide": "110634", "denosumab": "993449"}
FACILITY = {"lsc_g_cm2": {"lumbar_spine": 0.030, "total_hip": 0.025, "femoral_neck": 0.035}}


def resources(case: dict, patient_id: str = "p1") -> dict:
    """{"patient", "observations", "devices", "medications"} for a contract case (scans, patient, treatment)."""
    subject = {"reference": f"Patient/{patient_id}"}
    latest = max(str(s["date"]) for s in case["scans"])
    patient = {"resourceType": "Patient", "id": patient_id, "active": True,
               "gender": case.get("patient", {}).get("sex", "female")}
    if "age_years" in case.get("patient", {}):
        year = dt.date.fromisoformat(latest).year - case["patient"]["age_years"] - 1
        patient["birthDate"] = f"{year}-12-31"
    devices, observations = {}, []
    for scan in sorted(case["scans"], key=lambda s: str(s["date"]), reverse=True):   # newest first
        date = str(scan["date"])
        scanner = scan.get("scanner")
        device_ref = None
        if scanner:
            device_id = f"dxa-{scanner['id']}".lower()
            devices[device_id] = {"resourceType": "Device", "id": device_id, "manufacturer": scanner["manufacturer"],
                                  "modelNumber": scanner["model"], "serialNumber": scanner["id"]}
            device_ref = {"reference": f"Device/{device_id}"}
        for site, values in scan["sites"].items():
            bmd_code, t_code = CODES[site][values.get("side")]
            for code, key, unit in ((bmd_code, "bmd_g_cm2", "g/cm2"), (t_code, "t_score", "1")):
                if key not in values:
                    continue
                obs = {"resourceType": "Observation", "id": f"o{len(observations) + 1}", "status": "final",
                       "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": subject,
                       "effectiveDateTime": date,
                       "valueQuantity": {"value": values[key], "unit": unit, "system": UCUM, "code": unit}}
                if device_ref:
                    obs["device"] = device_ref
                if values.get("region"):
                    obs["bodySite"] = {"text": values["region"]}
                observations.append(obs)
    medications = []
    treatment = case.get("treatment", {})
    if treatment.get("agent") in RXNORM_CODES and treatment.get("status") in ("current", "past"):
        statement = {"resourceType": "MedicationStatement", "id": "ms1",
                     "status": "active" if treatment["status"] == "current" else "completed",
                     "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": RXNORM_CODES[treatment["agent"]],
                                                               "display": treatment["agent"]}]},
                     "subject": subject}
        if treatment.get("started"):
            statement["effectivePeriod"] = {"start": str(treatment["started"])}
        medications.append(statement)
    return {"patient": patient, "observations": observations, "devices": list(devices.values()),
            "medications": medications}


def searchset(items: list) -> dict:
    """A search result Bundle of ``items``."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(items),
            "entry": [{"fullUrl": f"http://fhir.test/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in items]}


def prefetch(case: dict, patient_id: str = "p1", with_devices: bool = True) -> dict:
    """The prefetch a CDS client fills for the service's templates (devices included in the
    Observation search when ``with_devices``, as an `_include` would)."""
    found = resources(case, patient_id)
    dxa = searchset(found["observations"])
    if with_devices:
        dxa["entry"] += [{"resource": d, "search": {"mode": "include"}} for d in found["devices"]]
    return {"patient": found["patient"], "dxa": dxa, "medicationStatements": searchset(found["medications"]),
            "medicationRequests": searchset([]), "conditions": searchset([])}
