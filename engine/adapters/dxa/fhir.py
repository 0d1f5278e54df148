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

from dataclasses import dataclass, field

from bmdkb.engine.adapters.dxa import fhir_clinical as clinical
from bmdkb.engine.adapters.dxa.fhir_reading import Reading, binding  # noqa: F401 (binding: the adapter uses it)
from bmdkb.engine.adapters.dxa.fhir_scans import scans as read_scans
from bmdkb.engine.common.errors import CaseError, Problem
from bmdkb.engine.fhir import models
from bmdkb.engine.fhir.bundle import BundleReader, codes


@dataclass
class Mapped:
    """The contract case a Bundle maps to, with the FHIR path of every case field read
    (``paths``), what was not read and why (``unmapped``), and notes on how it was read."""

    case: dict
    paths: dict = field(default_factory=dict)
    unmapped: list = field(default_factory=list)
    notes: list = field(default_factory=list)


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
    r = Reading(reader, b, domain_data.get("fhir_units", {}), file)
    case: dict = {"case_id": _case_id(bundle, reader)}
    paths: dict = {}
    if bundle.get("id"):
        paths["case_id"] = "Bundle.id"

    scans = read_scans(r, paths)
    if r.problems:
        raise CaseError(r.problems)
    if not scans:
        raise CaseError(Problem(file, "Bundle.entry", "no DXA Observation the binding reads (codes: "
                                f"{', '.join(c for c, o in b.observations.items() if 'site' in o)})"))
    case["scans"] = scans
    if len(scans) == 1:
        r.notes.insert(0, f"one DXA study only ({scans[0]['date']}): a change needs two scans, so no change can be judged")
    latest = scans[-1]["date"]
    patient = clinical.patient(r, latest, paths)
    if patient:
        case["patient"] = patient
    treatment = clinical.treatment(r, paths)
    if treatment:
        case["treatment"] = treatment
    findings = clinical.findings(r, paths)
    if findings:
        case["findings"] = findings
    labs = clinical.labs(r, paths)
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


# ------------------------------------------------------------------ facility

def _facility(facility: dict | None, scans: list, file: str, r: Reading) -> dict:
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

def _unmapped_rest(r: Reading) -> None:
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
