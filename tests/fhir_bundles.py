"""Test helper: a contract case written as a FHIR R4 Bundle, the way a health system would hold it
(LOINC-coded Observations in UCUM units, a Device per scanner, MedicationStatement, Condition,
Patient), and the same case cut down to what the binding can carry (``carried``), so the FHIR
path and the YAML path can be compared on the same information."""
from __future__ import annotations

import copy
import datetime as dt

LOINC, SNOMED, RXNORM = "http://loinc.org", "http://snomed.info/sct", "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CODES = {  # (site, side) -> (BMD code, T-score code)
    ("lumbar_spine", None): ("24966-4", "38267-1"),
    ("total_hip", None): ("38261-4", "38264-8"), ("total_hip", "left"): ("46278-8", "80946-7"),
    ("total_hip", "right"): ("46279-6", "80945-9"),
    ("femoral_neck", None): ("24701-5", "38263-0"), ("femoral_neck", "left"): ("80954-1", "80948-3"),
    ("femoral_neck", "right"): ("80953-3", "80947-5"),
}
LABS = {"vitamin_d_25oh_ng_ml": ("62292-8", "ng/mL"), "pth_pg_ml": ("2731-8", "pg/mL"),
        "calcium_mg_dl": ("17861-6", "mg/dL"), "ctx_ng_l": ("41171-0", "ng/L")}
RX = {"alendronate": "46041", "risedronate": "73056", "ibandronate": "115264", "zoledronic_acid": "77655",
      "denosumab": "993449", "teriparatide": "110634", "raloxifene": "72143"}
FINDINGS = {"vertebral_compression_fracture": "42942008", "aortic_calcification": "44998005",
            "degenerative_spine_changes": "8847002"}


def carried(case: dict) -> dict:
    """The case with what the default binding has no FHIR home for removed (risk, adherence,
    P1NP, hip positioning, localised hip disease, a "mean" hip side, a treatment without a named
    agent or with agent "other"); the facility stays (it comes from --facility)."""
    case = copy.deepcopy(case)
    case.pop("risk", None)
    case.get("treatment", {}).pop("adherence", None)
    if case.get("treatment", {}).get("status") == "naive":
        case["treatment"] = {"status": "naive"}
    elif case.get("treatment", {}).get("agent") in (None, "other"):
        # a medication resource names its drug: "on some treatment, agent not recorded" and the
        # contract's "other" (an osteoporosis agent outside the list) have no FHIR home
        case.pop("treatment", None)
    case.get("labs", {}).pop("p1np_ug_l", None)
    for name in ("hip_positioning_issue", "localized_hip_disease"):
        case.get("findings", {}).pop(name, None)
    for key in ("treatment", "labs", "findings"):
        if key in case and not case[key]:
            del case[key]
    for scan in case["scans"]:
        for site in ("total_hip", "femoral_neck"):
            if scan.get("sites", {}).get(site, {}).get("side") == "mean":
                del scan["sites"][site]["side"]
    return case


def _quantity(value, code):
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def _observation(oid, code, display, date, value, unit, device=None, body_text=None):
    obs = {"resourceType": "Observation", "id": oid, "status": "final",
           "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
           "subject": {"reference": "Patient/p"}, "effectiveDateTime": date, "valueQuantity": _quantity(value, unit)}
    if device:
        obs["device"] = {"reference": f"Device/{device}"}
    if body_text:
        obs["bodySite"] = {"text": body_text}
    return obs


def bundle_for(case: dict) -> tuple[dict, dict | None]:
    """(the Bundle, the facility file's content) for a contract case."""
    resources = []
    latest = max(s["date"] for s in case["scans"])
    patient = {"resourceType": "Patient", "id": "p"}
    if case.get("patient", {}).get("sex"):
        patient["gender"] = case["patient"]["sex"]
    if "age_years" in case.get("patient", {}):
        patient["birthDate"] = dt.date(int(latest[:4]) - int(case["patient"]["age_years"]), 1, 1).isoformat()
    resources.append(patient)
    devices = {}
    for scan in case["scans"]:
        scanner = scan.get("scanner") or {}
        if scanner and scanner.get("id", scanner.get("manufacturer")) not in devices:
            did = f"dxa{len(devices) + 1}"
            devices[scanner.get("id", scanner.get("manufacturer"))] = did
            device = {"resourceType": "Device", "id": did}
            if "manufacturer" in scanner:
                device["manufacturer"] = scanner["manufacturer"]
            if "model" in scanner:
                device["modelNumber"] = scanner["model"]
            if "id" in scanner:
                device["serialNumber"] = scanner["id"]
            resources.append(device)
    n = 0
    for scan in case["scans"]:
        scanner = scan.get("scanner") or {}
        device = devices.get(scanner.get("id", scanner.get("manufacturer"))) if scanner else None
        for site, values in scan.get("sites", {}).items():
            side = values.get("side") if values.get("side") in ("left", "right") else None
            bmd_code, t_code = CODES[(site, side)]
            region = values.get("region")
            if "bmd_g_cm2" in values:
                n += 1
                resources.append(_observation(f"o{n}", bmd_code, f"{site} BMD", scan["date"], values["bmd_g_cm2"],
                                              "g/cm2", device, region))
            if "t_score" in values:
                n += 1
                resources.append(_observation(f"o{n}", t_code, f"{site} T-score", scan["date"], values["t_score"],
                                              "1", device, region))
        if "weight_kg" in scan:
            n += 1
            resources.append(_observation(f"o{n}", "29463-7", "Body weight", scan["date"], scan["weight_kg"], "kg", device))
    for lab, value in case.get("labs", {}).items():
        if lab in LABS:
            n += 1
            resources.append(_observation(f"o{n}", LABS[lab][0], lab, latest, value, LABS[lab][1]))
    treatment = case.get("treatment") or {}
    if treatment.get("status") == "naive":
        resources.append({"resourceType": "MedicationStatement", "id": "m1", "status": "not-taken",
                          "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": RX["alendronate"]}],
                                                        "text": "alendronate"},
                          "subject": {"reference": "Patient/p"}})
    elif treatment.get("agent"):
        agent = treatment["agent"]
        concept = {"text": agent.replace("_", " ")}
        if agent in RX:
            concept["coding"] = [{"system": RXNORM, "code": RX[agent]}]
        statement = {"resourceType": "MedicationStatement", "id": "m1",
                     "status": {"current": "active", "past": "completed"}.get(treatment.get("status"), "active"),
                     "medicationCodeableConcept": concept, "subject": {"reference": "Patient/p"}}
        if treatment.get("started"):
            statement["effectivePeriod"] = {"start": treatment["started"]}
        resources.append(statement)
    for name, value in case.get("findings", {}).items():
        if name in FINDINGS:
            resources.append({"resourceType": "Condition", "id": f"c-{name.replace('_', '-')}",
                              "verificationStatus": {"coding": [{
                                  "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                  "code": "confirmed" if value else "refuted"}]},
                              "code": {"coding": [{"system": SNOMED, "code": FINDINGS[name]}]},
                              "subject": {"reference": "Patient/p"}})
    bundle = {"resourceType": "Bundle", "id": case["case_id"], "type": "collection",
              "entry": [{"fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r['id']}", "resource": r} for r in resources]}
    # references by Type/id resolve through the resources' ids
    facility = {"lsc_g_cm2": case["facility"]["lsc_g_cm2"]} if case.get("facility", {}).get("lsc_g_cm2") else None
    return bundle, facility
