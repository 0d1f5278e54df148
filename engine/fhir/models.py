"""The one module that imports the FHIR model library (fhir.resources, its R4B models: FHIR R4's
technical correction, with the same Observation, Medication*, Condition, Device, Patient,
GuidanceResponse, RequestGroup and Provenance). It checks a resource or a Bundle and reports
every problem at its FHIR path (``Bundle.entry[3].resource.valueQuantity.value``)."""
from __future__ import annotations

import typing

from bmdkb.engine.common import fieldpath
from bmdkb.engine.common.errors import CaseError, Problem

FHIR_VERSION = "4.0.1"      # what a Bundle written by bmdkb declares (R4); checked with the R4B models
MODELS = "fhir.resources.R4B"


def _model(resource_type: str):
    from fhir.resources.R4B import get_fhir_model_class   # a fifth of a second: only when FHIR is read or written
    return get_fhir_model_class(resource_type)


def preload(resource_types) -> int:
    """Load the models of ``resource_types`` and of every element type they can hold, so that the
    first check of a resource does not wait for them (the library imports each element type's
    module when it first meets that element: 10-15 ms on a service's first call). Returns how many
    models are loaded: only the resource types' own when the library's element types no longer
    say which model they stand for (a check still works then, only the first is slower)."""
    seen: set = set()
    for resource_type in resource_types:
        model = _resource_model(resource_type)
        if model is not None:
            _load(model, seen)
    return len(seen)


def _load(model, seen: set) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        types = [field.annotation]
        while types:
            kind = types.pop()
            types.extend(typing.get_args(kind))
            element = getattr(kind, "get_model_klass", None) if isinstance(kind, type) else None
            if element is not None:
                try:
                    _load(element(), seen)
                except (ImportError, AttributeError, TypeError, ValueError):   # best effort: a check still works
                    continue


def problems(resource: dict, file: str, root: str | None = None) -> list[Problem]:
    """The ways ``resource`` is not a valid FHIR resource, each at its FHIR path; [] when valid.
    ``root`` names the resource in paths (default: its resourceType)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return [Problem(file, root or "(top level)", "not a FHIR resource (no resourceType)")]
    root = root or resource["resourceType"]
    model = _resource_model(resource["resourceType"])
    if model is None:
        return [Problem(file, f"{root}.resourceType", f"{resource['resourceType']!r} is not a FHIR R4 resource type")]
    if resource["resourceType"] != "Bundle" or not isinstance(resource.get("entry"), list):
        return _validated(model, resource, file, root)
    # A Bundle is checked as its shell (the entries without their resources) and then each entry's
    # resource with its own model: the same checks the Bundle model makes, about 15% faster (it
    # looks each entry's model up again), and an entry of a type FHIR does not have is a problem
    # named at its path (the Bundle model raises KeyError for it).
    entries, inner = [], []
    for index, entry in enumerate(resource["entry"]):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict) \
                and isinstance(entry["resource"].get("resourceType"), str):
            inner.append((f"{root}.entry[{index}].resource", entry["resource"]))
            entry = {k: v for k, v in entry.items() if k != "resource"}
        entries.append(entry)
    found = _validated(model, {**resource, "entry": entries}, file, root)
    for where, item in inner:
        found += problems(item, file, where)
    return found


def _resource_model(resource_type: str):
    """The model of a FHIR R4 resource type; None for a name that is not one (or names a data type)."""
    try:
        model = _model(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None
    return model if model.has_resource_base() else None


def _validated(model, resource: dict, file: str, root: str) -> list[Problem]:
    from pydantic import ValidationError   # with the model library, as above

    try:
        model.model_validate(resource)
    except ValidationError as exc:
        found = []
        for error in exc.errors():
            where = fieldpath.join([root, *[p for p in error["loc"] if not _internal(p)]])
            found.append(Problem(file, where, f"not valid FHIR R4: {error['msg']}"))
        return found or [Problem(file, root, "not valid FHIR R4")]
    except KeyError:   # the library looks a contained resource's model up by name and fails so
        return [Problem(file, root, "not valid FHIR R4: it holds a resource of a type FHIR R4 does not have")]
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
