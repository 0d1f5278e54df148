"""The rest of the case from FHIR: the Patient's sex and age, labs (the most recent of each, by
LOINC code), treatment from MedicationStatement / MedicationRequest (RxNorm ingredient, text as a
flagged fallback) and findings from Condition or Observation (SNOMED CT). Unknown stays unknown."""
from __future__ import annotations

import datetime as dt

from bmdkb.engine.adapters.dxa.fhir_reading import READ_STATUSES, Reading, effective
from bmdkb.engine.fhir.bundle import Entry, codes, date_part, texts

def patient(r: Reading, latest: str, paths: dict) -> dict:
    """The Patient's sex (female or male) and age in whole years at the ``latest`` scan."""
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


def labs(r: Reading, paths: dict) -> dict:
    """The case labs: for each lab code of the binding, its most recent final result in the case unit."""
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
        date, _ = effective(e)
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

def _medication_concept(r: Reading, e: Entry):
    res = e.resource
    if "medicationCodeableConcept" in res:
        return res["medicationCodeableConcept"], e.at("medicationCodeableConcept")
    target = r.reader.resolve(res.get("medicationReference"))
    if target is not None and target.type == "Medication":
        r.read_entries.add(target.index)
        return target.resource.get("code"), target.at("code")
    return None, None


def _agent(r: Reading, concept, path):
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


def treatment(r: Reading, paths: dict) -> dict:
    """The case treatment from MedicationStatement / MedicationRequest; {} when none is read (unknown)."""
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

def findings(r: Reading, paths: dict) -> dict:
    """The case findings: true when recorded, false when refuted or negated; absent ones stay unknown."""
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
