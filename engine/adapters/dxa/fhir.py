"""A FHIR R4 Bundle read as a DXA contract case (spec/case-format.md), through the knowledge base's
terminology binding (knowledge/fhir/binding.yaml) and unit table (knowledge/fhir/units.yaml).

What is read: DXA Observations by LOINC code (site, side, BMD or T-score), grouped into scans by
date and Device; body weight; labs (the most recent of each); the Patient's sex and age at the
latest scan; MedicationStatement / MedicationRequest by RxNorm ingredient (text as a flagged
fallback); findings from Condition or Observation by SNOMED CT. Everything read keeps the FHIR
path it came from (``Mapped.paths``: case path -> FHIR path); everything not read is listed
(``Mapped.unmapped``) with why. Unknown stays unknown: no medication resource is not
"treatment-naive", an absent finding is not ``false``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from bmdkb.engine.common.errors import CaseError, Problem
from bmdkb.engine.fhir import models
from bmdkb.engine.fhir.bundle import BundleReader, Entry, codes, date_part, texts
from bmdkb.engine.fhir.units import UnitError, convert

READ_STATUSES = ("final", "amended", "corrected")
SITES = ("lumbar_spine", "total_hip", "femoral_neck")


@dataclass
class Mapped:
    """The contract case a Bundle maps to, with the FHIR path of every case field read
    (``paths``), what was not read and why (``unmapped``), and notes on how it was read."""

    case: dict
    paths: dict = field(default_factory=dict)
    unmapped: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Binding:
    """The terminology binding as lookups (built from kb.domain_data['fhir_binding'])."""

    doc: dict

    @property
    def loinc(self) -> str:
        """The LOINC system URI."""
        return self.doc["systems"]["loinc"]

    @property
    def snomed(self) -> str:
        """The SNOMED CT system URI."""
        return self.doc["systems"]["snomed"]

    @property
    def rxnorm(self) -> str:
        """The RxNorm system URI."""
        return self.doc["systems"]["rxnorm"]

    @property
    def observations(self) -> dict:
        """LOINC code -> its observation entry."""
        return {o["code"]: o for o in self.doc["observations"]}

    @property
    def not_used(self) -> dict:
        """LOINC code -> a code recognised and deliberately not read."""
        return {o["code"]: o for o in self.doc.get("not_used", [])}

    @property
    def loinc_codes(self) -> list[str]:
        """Every Observation code the binding reads (for prefetch search templates)."""
        return [o["code"] for o in self.doc["observations"]]

    @property
    def finding_codes(self) -> dict:
        """SNOMED CT code -> finding entry."""
        return {f["snomed"]: f for f in self.doc.get("findings", [])}


def binding(domain_data) -> Binding | None:
    """The knowledge base's FHIR binding, or None when it has none."""
    doc = domain_data.get("fhir_binding") or {}
    return Binding(doc) if doc.get("observations") else None


def _unverified(entry: dict) -> bool:
    return entry.get("verified") is False


def _number(value: Decimal):
    """An exact decimal as the case carries it: an int when whole, else the float of its text."""
    value = value.normalize()
    return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(f"{value:f}")


class _Reading:
    """One Bundle being read: the problems found, the notes, what was not read."""

    def __init__(self, reader: BundleReader, binding_: Binding, units: dict, file: str):
        self.reader, self.binding, self.units, self.file = reader, binding_, units, file
        self.problems: list[Problem] = []
        self.unmapped: list[str] = []
        self.notes: list[str] = []
        self.unverified: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def used(self, entry: dict, what: str) -> None:
        if _unverified(entry):
            self.unverified.add(what)

    def quantity(self, e: Entry, target: str):
        """The Observation's valueQuantity in the case unit (a number), or None with a problem."""
        q = e.resource.get("valueQuantity")
        if not isinstance(q, dict):
            self.problem(e.at("valueQuantity"), "no valueQuantity: a DXA, weight or lab result needs a numeric value")
            return None
        try:
            converted = convert(q, target, self.units)
        except UnitError as exc:
            where = "code" if "code" in q else ("unit" if "unit" in q else "value")
            self.problem(e.at("valueQuantity", where), str(exc))
            return None
        if converted.note:
            self.note(f"{e.at('valueQuantity')}: {converted.note}")
        return _number(converted.value)


def case_from_bundle(bundle: dict, file: str, domain_data, facility: dict | None = None,
                     facility_file: str = "--facility") -> Mapped:
    """Map ``bundle`` (a FHIR R4 Bundle, checked with the FHIR model library) onto the contract
    case. Raises CaseError (exit 2), every problem at its FHIR path, for a resource that is not
    valid FHIR R4, a quantity in a unit the table does not convert, two results for one site and
    date that disagree, or a DXA result without a date."""
    b = binding(domain_data)
    if b is None:
        raise CaseError(Problem(file, "", "this knowledge base has no FHIR binding (knowledge/fhir/binding.yaml)"))
    models.check(bundle, file, root="Bundle")
    reader = BundleReader(bundle, file)
    r = _Reading(reader, b, domain_data.get("fhir_units", {}), file)
    case: dict = {"case_id": _case_id(bundle, reader)}
    paths: dict = {}
    if bundle.get("id"):
        paths["case_id"] = "Bundle.id"

    scans = _scans(r, paths)
    if r.problems:
        raise CaseError(r.problems)
    if not scans:
        raise CaseError(Problem(file, "Bundle.entry", "no DXA Observation the binding reads (codes: "
                                f"{', '.join(c for c, o in b.observations.items() if 'site' in o)})"))
    case["scans"] = scans
    if len(scans) == 1:
        r.notes.insert(0, f"one DXA study only ({scans[0]['date']}): a change needs two scans, so no change can be judged")
    latest = scans[-1]["date"]
    patient = _patient(r, latest, paths)
    if patient:
        case["patient"] = patient
    treatment = _treatment(r, paths)
    if treatment:
        case["treatment"] = treatment
    findings = _findings(r, paths)
    if findings:
        case["findings"] = findings
    labs = _labs(r, paths)
    if labs:
        case["labs"] = labs
    if r.problems:
        raise CaseError(r.problems)
    lsc, where = _facility(facility, scans, facility_file, r)
    if lsc:
        case["facility"] = {"lsc_g_cm2": lsc}
        for site in lsc:   # the facility file's own field, named from its top as "facility"
            paths[f"facility.lsc_g_cm2.{site}"] = f"facility.{where}lsc_g_cm2.{site}"
    else:
        r.note("no facility LSC given (--facility FILE): significance of a change cannot be judged")
    for what in sorted(r.unverified):
        r.note(f"read through a code the binding marks unverified: {what}")
    _unmapped_rest(r)
    return Mapped(case, paths, r.unmapped, r.notes)


def _case_id(bundle: dict, reader: BundleReader) -> str:
    if isinstance(bundle.get("id"), str) and bundle["id"]:
        return bundle["id"]
    for e in reader.of_type("Patient"):
        if e.resource.get("id"):
            return f"Patient/{e.resource['id']}"
    return "fhir-bundle"


# ------------------------------------------------------------------ scans

def _scans(r: _Reading, paths: dict) -> list[dict]:
    b = r.binding
    observations = b.observations
    groups: dict = {}         # date -> {"scanner_key": ..., "obs": [...]}
    weights = []
    r.read_entries = set()
    for e in r.reader.of_type("Observation"):
        found = codes(e.resource.get("code"), e.at("code"), b.loinc)
        spec = next((observations[c.code] for c in found if c.code in observations), None)
        if spec is None or ("site" not in spec and "scan" not in spec):
            continue
        r.read_entries.add(e.index)
        code = next(c for c in found if c.code == spec["code"])
        status = e.resource.get("status")
        if status not in READ_STATUSES:
            r.unmapped.append(f"{e.path}: {spec['code']} ({spec['display']}) has status {status!r}: not read "
                              f"(read: {', '.join(READ_STATUSES)})")
            continue
        date, date_path = _effective(e)
        if date is None:
            r.problem(e.at("effectiveDateTime"), f"{spec['display']} has no effective date: a scan needs its date")
            continue
        if "scan" in spec:
            weights.append((date, e, spec))
            continue
        groups.setdefault(date, []).append((e, spec, code, date_path))

    scans = []
    for date in sorted(groups):
        by_scanner: dict = {}
        for item in groups[date]:
            scanner, scanner_paths = _scanner(r, item[0])
            by_scanner.setdefault(scanner.get("id") or scanner.get("manufacturer"), []).append((item, scanner, scanner_paths))
        keyed = [k for k in by_scanner if k is not None]
        if None in by_scanner and len(keyed) == 1:   # results without a Device join the day's one scanner
            by_scanner[keyed[0]] += by_scanner.pop(None)
        for key in sorted(by_scanner, key=lambda k: (k is not None, str(k))):
            scans.append(_one_scan(r, date, by_scanner[key]))
    scans.sort(key=lambda s: s[0]["date"])
    case_scans = []
    for i, (scan, scan_paths) in enumerate(scans):
        for sub, fhir in scan_paths.items():
            paths[f"scans[{i}]{sub}"] = fhir
        case_scans.append(scan)
    _weights(r, weights, case_scans, paths)
    return case_scans


def _effective(e: Entry):
    res = e.resource
    if "effectiveDateTime" in res:
        return date_part(res["effectiveDateTime"]), e.at("effectiveDateTime")
    period = res.get("effectivePeriod")
    if isinstance(period, dict) and period.get("start"):
        return date_part(period["start"]), e.at("effectivePeriod", "start")
    return None, None


def _scanner(r: _Reading, e: Entry):
    device = r.reader.resolve(e.resource.get("device"))
    if device is None or device.type != "Device":
        return {}, {}
    d = device.resource
    scanner, where = {}, {}
    if isinstance(d.get("manufacturer"), str):
        scanner["manufacturer"], where[".scanner.manufacturer"] = d["manufacturer"], device.at("manufacturer")
    if isinstance(d.get("modelNumber"), str):
        scanner["model"], where[".scanner.model"] = d["modelNumber"], device.at("modelNumber")
    elif d.get("deviceName") and isinstance(d["deviceName"][0].get("name"), str):
        scanner["model"], where[".scanner.model"] = d["deviceName"][0]["name"], device.at("deviceName", 0, "name")
    if isinstance(d.get("serialNumber"), str):
        scanner["id"], where[".scanner.id"] = d["serialNumber"], device.at("serialNumber")
    elif d.get("identifier") and isinstance(d["identifier"][0].get("value"), str):
        scanner["id"], where[".scanner.id"] = d["identifier"][0]["value"], device.at("identifier", 0, "value")
    return scanner, where


def _one_scan(r: _Reading, date: str, items: list):
    scan: dict = {"date": date}
    where: dict = {}
    sites: dict = {}
    for (e, spec, code, date_path), scanner, scanner_paths in items:
        if "" not in where:
            where[""], where[".date"] = e.path, date_path
        if scanner and "scanner" not in scan:
            scan["scanner"] = scanner
            where.update(scanner_paths)
        site, value_field = spec["site"], spec["value"]
        side, side_path = _side(r, e, spec, code)
        if site == "femoral_neck" and not _femoral_neck(r, e):
            continue
        r.used(spec, f"{spec['code']} ({spec['display']})")
        value = r.quantity(e, value_field)
        if value is None:
            continue
        values = sites.setdefault(site, {})
        prefix = f".sites.{site}"
        if value_field in values:
            if values[value_field] != value:
                r.problem(e.at("valueQuantity", "value"),
                          f"{spec['display']} on {date} is {value}, but {where[f'{prefix}.{value_field}']} gives "
                          f"{values[value_field]}: two results for one site and date disagree")
            else:
                r.note(f"{e.path}: repeats {site} {value_field} of {date} ({value}); read once")
            continue
        values[value_field] = value
        where[f"{prefix}.{value_field}"] = e.at("valueQuantity", "value")
        if site == "lumbar_spine":
            region = (e.resource.get("bodySite") or {}).get("text")
            if isinstance(region, str) and region.strip() and "region" not in values:
                values["region"], where[f"{prefix}.region"] = region, e.at("bodySite", "text")
        elif side is not None:
            if "side" in values and values["side"] != side:
                r.problem(side_path, f"{site} on {date} is read as {side} here but {values['side']} at "
                                     f"{where[f'{prefix}.side']}: one scan, two sides")
            elif "side" not in values:
                values["side"], where[f"{prefix}.side"] = side, side_path
    if sites:
        scan["sites"] = sites
    return scan, where


def _body_site_codes(r: _Reading, e: Entry):
    """(focus concept, refinement values, path) of each SNOMED CT coding of bodySite; a
    post-coordinated expression 71341001:272741003=7771000 gives focus 71341001, refinements {7771000}."""
    found = []
    for c in codes(e.resource.get("bodySite"), e.at("bodySite"), r.binding.snomed):
        focus, _, refinements = c.code.partition(":")
        values = {part.partition("=")[2].strip() for part in refinements.split(",") if "=" in part}
        found.append((focus.strip(), values, c.path))
    return found


def _side(r: _Reading, e: Entry, spec: dict, code) -> tuple:
    laterality = {x["code"]: x for x in r.binding.doc.get("body_sites", {}).get("laterality", [])}
    from_site = None
    for focus, values, path in _body_site_codes(r, e):
        for concept in {focus} | values:
            if concept in laterality:
                from_site = (laterality[concept]["side"], path)
                r.used(laterality[concept], f"laterality {concept}")
    if spec.get("side"):
        if from_site and from_site[0] != spec["side"]:
            r.problem(from_site[1], f"bodySite says {from_site[0]} but the code {spec['code']} is {spec['side']}")
        return spec["side"], code.path
    return from_site if from_site else (None, None)


def _femoral_neck(r: _Reading, e: Entry) -> bool:
    """Whether a "Femur" result is read as the femoral neck: yes unless its bodySite names another
    femoral sub-region (a bodySite of the neck of femur confirms it)."""
    sites = r.binding.doc.get("body_sites", {})
    neck = (sites.get("femoral_neck") or {}).get("code")
    whole = {x["code"] for x in sites.get("femur_whole", [])}
    lateral = {x["code"] for x in sites.get("laterality", [])}
    body = _body_site_codes(r, e)
    other = [(focus, path) for focus, _, path in body if focus not in whole | lateral | {neck}]
    if other:
        r.unmapped.append(f"{e.path}: a Femur result with bodySite {other[0][0]} (a femoral region other than the "
                          "neck): not read as the femoral neck")
        return False
    if any(focus == neck for focus, _, _ in body):
        r.used(sites["femoral_neck"], f"bodySite {neck} (neck of femur)")
    else:
        r.note("the LOINC \"Femur\" results are read as the femoral neck (as the US Core DXA report pairs Hip and "
               "Femur); a bodySite of another femoral region would stop that")
    return True


def _weights(r: _Reading, weights: list, scans: list, paths: dict) -> None:
    index = {s["date"]: i for i, s in enumerate(scans)}
    for date, e, spec in weights:
        if date not in index:
            r.unmapped.append(f"{e.path}: body weight of {date}: no DXA scan that day")
            continue
        i = index[date]
        value = r.quantity(e, "weight_kg")
        if value is None:
            continue
        r.used(spec, f"{spec['code']} ({spec['display']})")
        if "weight_kg" in scans[i] and scans[i]["weight_kg"] != value:
            r.problem(e.at("valueQuantity", "value"), f"body weight on {date} is {value} here but "
                      f"{scans[i]['weight_kg']} at {paths[f'scans[{i}].weight_kg']}: two weights for one scan disagree")
            continue
        scans[i]["weight_kg"] = value
        paths[f"scans[{i}].weight_kg"] = e.at("valueQuantity", "value")


# ------------------------------------------------------------------ patient, labs

def _patient(r: _Reading, latest: str, paths: dict) -> dict:
    patients = r.reader.of_type("Patient")
    if not patients:
        return {}
    e = patients[0]
    r.read_entries.add(e.index)
    out = {}
    gender = e.resource.get("gender")
    if gender in ("female", "male"):
        out["sex"], paths["patient.sex"] = gender, e.at("gender")
    elif gender is not None:
        r.unmapped.append(f"{e.at('gender')}: gender {gender!r}: the case records female or male only")
    born = e.resource.get("birthDate")
    if isinstance(born, str) and date_part(born):
        b, last = dt.date.fromisoformat(date_part(born)), dt.date.fromisoformat(latest)
        out["age_years"] = last.year - b.year - ((last.month, last.day) < (b.month, b.day))
        paths["patient.age_years"] = e.at("birthDate")
    return out


def _labs(r: _Reading, paths: dict) -> dict:
    b = r.binding
    latest: dict = {}
    for e in r.reader.of_type("Observation"):
        found = codes(e.resource.get("code"), e.at("code"), b.loinc)
        spec = next((b.observations[c.code] for c in found if c.code in b.observations and "lab" in b.observations[c.code]), None)
        if spec is None:
            continue
        r.read_entries.add(e.index)
        if e.resource.get("status") not in READ_STATUSES:
            r.unmapped.append(f"{e.path}: {spec['display']} has status {e.resource.get('status')!r}: not read")
            continue
        date, _ = _effective(e)
        lab = spec["lab"]
        if lab in latest and (date or "") <= (latest[lab][0] or ""):
            r.note(f"{e.path}: an earlier {spec['display']} result; the most recent one is read")
            continue
        if lab in latest:
            r.note(f"{latest[lab][1].path}: an earlier {spec['display']} result; the most recent one is read")
        latest[lab] = (date, e, spec)
    labs = {}
    for lab, (date, e, spec) in sorted(latest.items()):
        value = r.quantity(e, lab)
        if value is not None:
            r.used(spec, f"{spec['code']} ({spec['display']})")
            labs[lab] = value
            paths[f"labs.{lab}"] = e.at("valueQuantity", "value")
    return labs


# ------------------------------------------------------------------ treatment

def _medication_concept(r: _Reading, e: Entry):
    res = e.resource
    if "medicationCodeableConcept" in res:
        return res["medicationCodeableConcept"], e.at("medicationCodeableConcept")
    target = r.reader.resolve(res.get("medicationReference"))
    if target is not None and target.type == "Medication":
        r.read_entries.add(target.index)
        return target.resource.get("code"), target.at("code")
    return None, None


def _agent(r: _Reading, concept, path):
    """(agent, FHIR path, how) of a medication concept: by RxNorm ingredient code, else by name in its text."""
    meds = r.binding.doc.get("medications", [])
    by_code = {m["rxnorm"]: m for m in meds if "rxnorm" in m}
    for c in codes(concept, path, r.binding.rxnorm):
        if c.code in by_code:
            r.used(by_code[c.code], f"RxNorm {c.code} ({by_code[c.code]['agent']})")
            return by_code[c.code]["agent"], c.path, "code"
    for text, text_path in texts(concept, path):
        lowered = text.casefold()
        for m in meds:
            if any(name.casefold() in lowered for name in m["names"]):
                return m["agent"], text_path, "text"
    return None, None, None


def _treatment(r: _Reading, paths: dict) -> dict:
    statuses = r.binding.doc.get("medication_status", {})
    resources = r.reader.of_type("MedicationStatement", "MedicationRequest")
    if not resources:
        r.note("no MedicationStatement or MedicationRequest: treatment is unknown (not read as treatment-naive)")
        return {}
    taken, not_taken = [], []
    for e in resources:
        r.read_entries.add(e.index)
        concept, concept_path = _medication_concept(r, e)
        agent, agent_path, how = _agent(r, concept, concept_path)
        status = e.resource.get("status")
        if agent is None:
            label = next((t for t, _ in texts(concept, concept_path or e.path)), None) or "a medication"
            r.unmapped.append(f"{e.path}: {label}: not an osteoporosis agent the binding knows")
            continue
        if e.type == "MedicationStatement" and status == "not-taken":
            not_taken.append(e)
            continue
        mapped_status = statuses.get(e.type, {}).get(status)
        if mapped_status is None:
            r.unmapped.append(f"{e.path}: {e.type} for {agent} with status {status!r}: not read as treatment")
            continue
        started, started_path = _started(e)
        taken.append((mapped_status == "current", started or "", e, agent, agent_path, how, mapped_status,
                      started, started_path))
    if not taken:
        if not_taken:
            e = not_taken[0]
            paths["treatment.status"] = e.at("status")
            r.note(f"{e.path}: a MedicationStatement 'not-taken' for an osteoporosis agent and no agent taken: "
                   "read as treatment-naive")
            return {"status": "naive"}
        return {}
    taken.sort(key=lambda t: (t[0], t[1]))
    current, _, e, agent, agent_path, how, status, started, started_path = taken[-1]
    if len({t[3] for t in taken}) > 1:
        r.note(f"several osteoporosis agents recorded; the {'current' if current else 'latest'} one is read: {agent} "
               f"({e.path})")
    treatment = {"status": status, "agent": agent}
    paths["treatment.status"], paths["treatment.agent"] = e.at("status"), agent_path
    if how == "text":
        r.note(f"{agent_path}: agent {agent} read from the medication's text, not from an RxNorm code")
    if started:
        treatment["started"], paths["treatment.started"] = started, started_path
        if e.type == "MedicationRequest":
            r.note(f"{started_path}: the start of treatment is taken from the prescription date (authoredOn)")
    return treatment


def _started(e: Entry):
    res = e.resource
    if e.type == "MedicationStatement":
        period = res.get("effectivePeriod")
        if isinstance(period, dict) and date_part(period.get("start")):
            return date_part(period["start"]), e.at("effectivePeriod", "start")
        if date_part(res.get("effectiveDateTime")):
            return date_part(res["effectiveDateTime"]), e.at("effectiveDateTime")
        return None, None
    if date_part(res.get("authoredOn")):
        return date_part(res["authoredOn"]), e.at("authoredOn")
    return None, None


# ------------------------------------------------------------------ findings

def _findings(r: _Reading, paths: dict) -> dict:
    by_code = r.binding.finding_codes
    found: dict = {}

    def record(name, value, path, entry):
        r.used(entry, f"SNOMED CT {entry['snomed']} ({name})")
        if name in found and found[name] != value:
            r.problem(path, f"finding {name} is recorded {str(value).lower()} here but {str(found[name]).lower()} at "
                            f"{paths[f'findings.{name}']}: the records disagree")
            return
        found[name] = value
        paths.setdefault(f"findings.{name}", path)

    for e in r.reader.of_type("Condition", "Observation"):
        matched = [(c, by_code[c.code]) for c in codes(e.resource.get("code"), e.at("code"), r.binding.snomed)
                   if c.code in by_code]
        if not matched:
            continue
        r.read_entries.add(e.index)
        code, entry = matched[0]
        name = entry["finding"]
        if e.type == "Condition":
            verification = [c.code for c in codes(e.resource.get("verificationStatus"), e.at("verificationStatus"))]
            if "entered-in-error" in verification:
                r.unmapped.append(f"{e.path}: {name} entered in error: not read")
            elif "refuted" in verification:
                record(name, False, e.at("verificationStatus"), entry)
            elif not verification or "confirmed" in verification:
                record(name, True, code.path, entry)
            else:
                r.unmapped.append(f"{e.path}: {name} with verification status {verification[0]!r}: left unknown")
        else:
            if e.resource.get("status") not in READ_STATUSES:
                r.unmapped.append(f"{e.path}: {name} has status {e.resource.get('status')!r}: not read")
            elif isinstance(e.resource.get("valueBoolean"), bool):
                record(name, e.resource["valueBoolean"], e.at("valueBoolean"), entry)
            else:
                r.unmapped.append(f"{e.path}: {name} without a valueBoolean: left unknown")
    return found


# ------------------------------------------------------------------ facility

def _facility(facility: dict | None, scans: list, file: str, r: _Reading) -> dict:
    """(LSC per site, where in the facility file) for this case: the file's own ``lsc_g_cm2``, or
    the entry of ``scanners`` for the latest scan's scanner id (``lsc_g_cm2`` as the default)."""
    if not facility:
        return {}, ""
    scanners = facility.get("scanners") or {}
    latest = (scans[-1].get("scanner") or {}).get("id")
    if latest is not None and latest in scanners:
        r.note(f"facility LSC of scanner {latest} ({file}: scanners.{latest}.lsc_g_cm2), the latest scan's")
        return dict(scanners[latest]["lsc_g_cm2"]), f"scanners.{latest}."
    if scanners and "lsc_g_cm2" in facility:
        r.note(f"scanner {latest!r} is not among the facility file's scanners: its default lsc_g_cm2 is used")
    elif scanners:
        r.note(f"scanner {latest!r} is not among the facility file's scanners ({', '.join(sorted(scanners))}): no LSC")
    return dict(facility.get("lsc_g_cm2") or {}), ""


# ------------------------------------------------------------------ not read

def _unmapped_rest(r: _Reading) -> None:
    """Every Observation, Condition or other clinical resource not read is listed, with its codes."""
    not_used = r.binding.not_used
    skip = {"Patient", "Device", "Medication", "DiagnosticReport", "Practitioner", "Organization", "Encounter"}
    for e in r.reader.entries:
        if e.index in r.read_entries or e.type in skip:
            continue
        found = codes(e.resource.get("code"), e.at("code"))
        known = next((not_used[c.code] for c in found if c.code in not_used), None)
        if known is not None:
            r.unmapped.append(f"{e.path}: {known['code']} ({known['display']}): {known['reason']}")
            continue
        label = ", ".join(f"{c.system or '?'}|{c.code}" for c in found) or "no code"
        r.unmapped.append(f"{e.path}: {e.type} ({label}): not in the binding")
