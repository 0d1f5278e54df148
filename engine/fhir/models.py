"""The one module that imports the FHIR model library (fhir.resources, its R4B models: FHIR R4's
technical correction, with the same Observation, Medication*, Condition, Device, Patient,
GuidanceResponse, RequestGroup and Provenance). It checks a resource or a Bundle and reports
every problem at its FHIR path (``Bundle.entry[3].resource.valueQuantity.value``)."""
from __future__ import annotations

from bmdkb.engine.common import fieldpath
from bmdkb.engine.common.errors import CaseError, Problem

FHIR_VERSION = "4.0.1"      # what a Bundle written by bmdkb declares (R4); checked with the R4B models
MODELS = "fhir.resources.R4B"


def _model(resource_type: str):
    from fhir.resources.R4B import get_fhir_model_class   # a fifth of a second: only when FHIR is read or written
    return get_fhir_model_class(resource_type)


def problems(resource: dict, file: str, root: str | None = None) -> list[Problem]:
    """The ways ``resource`` is not a valid FHIR resource, each at its FHIR path; [] when valid.
    ``root`` names the resource in paths (default: its resourceType)."""
    from pydantic import ValidationError   # with the model library, as above

    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return [Problem(file, root or "(top level)", "not a FHIR resource (no resourceType)")]
    root = root or resource["resourceType"]
    try:
        model = _model(resource["resourceType"])
    except (KeyError, ValueError, AttributeError, ImportError):
        return [Problem(file, f"{root}.resourceType", f"{resource['resourceType']!r} is not a FHIR R4 resource type")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        found = []
        for error in exc.errors():
            where = fieldpath.join([root, *[p for p in error["loc"] if not _internal(p)]])
            found.append(Problem(file, where, f"not valid FHIR R4: {error['msg']}"))
        return found or [Problem(file, root, "not valid FHIR R4")]
    except (TypeError, ValueError) as exc:
        return [Problem(file, root, f"not valid FHIR R4: {exc}")]
    return []


def _internal(part) -> bool:
    """Location parts pydantic adds that are not FHIR element names (union branches, functions)."""
    return isinstance(part, str) and (part.startswith("function-") or "[" in part)


def check(resource: dict, file: str, root: str | None = None) -> None:
    """Raise CaseError (exit 2) listing every problem when ``resource`` is not valid FHIR R4."""
    found = problems(resource, file, root)
    if found:
        raise CaseError(found)
