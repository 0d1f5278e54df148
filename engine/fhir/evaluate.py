"""FHIR input end to end: tell a Bundle from a contract case, map it onto the case through the
knowledge base's case adapter (the adapter knows the domain; this module does not), and
evaluate it so that every input fact names the FHIR element it came from."""
from __future__ import annotations

from dataclasses import dataclass, replace

from bmdkb.engine import adapters
from bmdkb.engine.common.errors import CaseError, Problem
from bmdkb.engine.common.yamlio import load_file
from bmdkb.engine.fhir.bundle import is_bundle

FORMAT = "fhir-r4"


def is_fhir_bundle(data) -> bool:
    """True when ``data`` (a document as read) is a FHIR Bundle rather than a contract case."""
    return is_bundle(data)


def _adapter(kb):
    adapter = adapters.for_kb(kb)
    if not hasattr(adapter, "case_from_bundle"):
        raise CaseError(Problem("", "", f"the {adapter.name} case adapter reads no FHIR"))
    return adapter


@dataclass(frozen=True)
class FhirBinding:
    """What a client needs of the knowledge base's FHIR binding: ``loinc_codes`` (every
    Observation code it reads, for prefetch search templates) and the code ``systems``."""

    loinc_codes: list
    systems: dict
    binding: object       # the adapter's own binding object (lookups)


def fhir_binding(kb) -> FhirBinding | None:
    """The knowledge base's FHIR binding; None when it has none."""
    found = _adapter(kb).fhir_binding(kb.domain_data)
    if found is None:
        return None
    return FhirBinding(list(found.loinc_codes), dict(found.doc["systems"]), found)


def read_facility(kb, path: str) -> dict:
    """A facility file (``--facility FILE``: the case's facility block, optionally keyed by
    scanner id), checked; CaseError (exit 2) naming the file and field when it is bad."""
    doc = load_file(path, CaseError, path)
    found = _adapter(kb).facility_problems(doc, path)
    if found:
        raise CaseError(found)
    return doc


def case_from_bundle(bundle: dict, file: str, kb, facility: dict | None = None, facility_file: str = "--facility"):
    """The contract case ``bundle`` maps to: an object with ``.case``, ``.paths`` (case path ->
    FHIR path), ``.unmapped`` (what was not read, and why) and ``.notes``. CaseError (exit 2),
    each problem at its FHIR path, when the Bundle cannot be read."""
    return _adapter(kb).case_from_bundle(bundle, file, kb.domain_data, facility, facility_file)


def validate_bundle(kb, bundle: dict, file: str, today, facility: dict | None = None):
    """Check a Bundle as evaluate would read it (valid FHIR R4, units converted, the mapped case
    valid); CaseError with the FHIR paths when it is not. Returns the mapped case."""
    mapped = case_from_bundle(bundle, file, kb, facility)
    try:
        adapters.for_kb(kb).validate_case(mapped.case, file, today)
    except CaseError as exc:
        raise CaseError([replace(p, field=mapped.paths.get(p.field, p.field)) for p in exc.problems]) from None
    return mapped


def input_info(mapped) -> dict:
    """The result document's ``input`` block for a case read from FHIR."""
    return {"format": FORMAT, "notes": list(mapped.notes), "unmapped": list(mapped.unmapped)}


def evaluate_bundle(evaluator, bundle: dict, file: str, facility: dict | None = None, approved_only: bool = False,
                    today=None, facility_file: str = "--facility"):
    """Map ``bundle`` onto the contract case and evaluate it with ``evaluator`` (an Evaluator):
    input facts carry their FHIR paths (``Bundle.entry[3].resource.valueQuantity.value``), so
    ``explain`` traces a conclusion to the FHIR element. CaseError (exit 2) with the FHIR path
    on bad input; the result's ``input`` block lists notes and what was not mapped."""
    mapped = case_from_bundle(bundle, file, evaluator.kb, facility, facility_file)
    return evaluator.evaluate(mapped.case, file, approved_only=approved_only, today=today,
                              input_paths=dict(mapped.paths), source=bundle, input_info=input_info(mapped))
