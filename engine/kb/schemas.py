"""JSON Schemas of the project: loaded once, checked against their metaschema, used by name."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

from bmdkb.engine.common import fieldpath
from bmdkb.engine.common.errors import Problem


from bmdkb.engine.resources import SCHEMA_DIR


@lru_cache(maxsize=None)
def _all_schemas() -> dict[str, dict]:
    found = {}
    for entry in sorted(SCHEMA_DIR.iterdir()):
        if entry.name.endswith(".schema.json"):
            found[entry.name.removesuffix(".schema.json")] = json.loads(entry.read_text(encoding="utf-8"))
    return found


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for ``schemas/<name>.schema.json``, formats enforced."""
    schemas = _all_schemas()
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values())
    schema = schemas[name]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def names() -> list[str]:
    """Sorted names of the bundled schemas."""
    return sorted(_all_schemas())


def field_path(parts) -> str:
    """``['scans', 1, 'sites']`` -> ``scans[1].sites`` (engine/common/fieldpath.py's syntax)."""
    return fieldpath.join(parts)


def _message(error: jsonschema.ValidationError, describe=None) -> str:
    if describe is not None:
        domain = describe(error)
        if domain is not None:
            return domain
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown field {', '.join(map(repr, extra))} (allowed: {allowed})"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    return error.message


def problems(name: str, document, file: str, describe=None) -> list[Problem]:
    """Every schema problem of ``document``, each naming ``file`` and the field path.
    ``describe(error)`` may word an error the domain's way (a case adapter's schema_message);
    when it returns None the generic wording stands."""
    found = []
    for error in sorted(validator(name).iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = path + [missing] if missing else path
            found.append(Problem(file, field_path(path), "is required"))
            continue
        if error.validator == "additionalProperties":
            for extra in sorted(set(error.instance) - set(error.schema.get("properties", {}))):
                found.append(Problem(file, field_path(path + [extra]), "unknown field (allowed: "
                                     + ", ".join(sorted(error.schema.get("properties", {}))) + ")"))
            continue
        found.append(Problem(file, field_path(path) or fieldpath.TOP_LEVEL, _message(error, describe)))
    return found
