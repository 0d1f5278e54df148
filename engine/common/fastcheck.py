"""A fast yes-or-don't-know check of a document against a JSON Schema.

jsonschema's validator is exact but slow (about 1 ms per case, most of a case's
cost). This compiles the small subset of Draft 2020-12 our schemas use into
plain Python closures that answer one question: is the document certainly
valid? ``True`` means the full validator would find no problem; ``False`` only
means "ask the full validator", which then decides and words the messages.
Every check here is at least as strict as jsonschema's (exact types, the same
numeric bounds, the same date pattern), and a schema using any keyword not
listed below is not compiled at all, so the fast path can never accept a
document the full validator rejects. Tests compare both on generated and
mutated cases.
"""
from __future__ import annotations

import datetime as _dt
import re

# Annotations and containers that never reject anything by themselves.
_IGNORED = {"$schema", "$id", "$comment", "title", "description", "$defs", "examples", "default"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)  # jsonschema's own pattern for format "date"
_NUMBER = (int, float)


class Unsupported(Exception):
    """The schema uses something this compiler does not handle: use the full validator only."""


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def compile_schema(schema: dict):
    """A function document -> bool (True: certainly valid), or None if the schema is outside the subset."""
    defs = schema.get("$defs", {})
    compiled: dict[str, object] = {}

    def ref(target: str):
        if not target.startswith("#/$defs/") or target[8:] not in defs:
            raise Unsupported(f"$ref {target}")
        name = target[8:]
        if name not in compiled:
            compiled[name] = None  # placeholder: a recursive schema resolves lazily
            compiled[name] = node(defs[name])
        return lambda value: compiled[name](value)

    def node(s: dict):
        if not isinstance(s, dict):
            raise Unsupported("boolean schema")
        checks = []
        unknown = set(s) - _IGNORED - {"type", "enum", "properties", "additionalProperties", "required",
                                        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                        "minLength", "minItems", "items", "$ref", "format"}
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        kind = s.get("type")
        if kind is not None and not isinstance(kind, str):
            raise Unsupported("type list")
        if kind == "object" or any(k in s for k in ("properties", "additionalProperties", "required")):
            checks.append(_object(s, node))
        elif kind == "array" or any(k in s for k in ("items", "minItems")):
            checks.append(_array(s, node))
        elif kind == "string" or any(k in s for k in ("minLength", "format")):
            checks.append(_string(s))
        elif kind in ("number", "integer") or any(k in s for k in ("minimum", "maximum", "exclusiveMinimum",
                                                                  "exclusiveMaximum")):
            checks.append(_number(s, integer=kind == "integer"))
        elif kind == "boolean":
            checks.append(lambda value: type(value) is bool)
        elif kind is not None:
            raise Unsupported(f"type {kind}")
        if "enum" in s:
            if not all(isinstance(v, str) for v in s["enum"]):
                raise Unsupported("non-string enum")
            allowed = frozenset(s["enum"])
            checks.append(lambda value: type(value) is str and value in allowed)
        if "$ref" in s:
            checks.append(ref(s["$ref"]))
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    try:
        return node(schema)
    except Unsupported:
        return None


def _object(s: dict, node):
    for key in ("minimum", "maximum", "items", "minItems", "minLength", "format"):
        if key in s:
            raise Unsupported(f"{key} on an object")
    if s.get("type", "object") != "object":
        raise Unsupported("object keywords on another type")
    additional = s.get("additionalProperties", True)
    if additional not in (True, False):
        raise Unsupported("additionalProperties schema")
    properties = {name: node(sub) for name, sub in s.get("properties", {}).items()}
    required = tuple(s.get("required", ()))
    closed = additional is False

    def check(value) -> bool:
        if type(value) is not dict:
            return False
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            sub = properties.get(name)
            if sub is None:
                if closed:
                    return False
            elif not sub(item):
                return False
        return True

    return check


def _array(s: dict, node):
    if s.get("type", "array") != "array":
        raise Unsupported("array keywords on another type")
    items = node(s["items"]) if "items" in s else None
    least = s.get("minItems", 0)

    def check(value) -> bool:
        if type(value) is not list or len(value) < least:
            return False
        return items is None or all(items(item) for item in value)

    return check


def _string(s: dict):
    if s.get("type", "string") != "string":
        raise Unsupported("string keywords on another type")
    if s.get("format", "date") != "date":
        raise Unsupported(f"format {s['format']}")
    least, date = s.get("minLength", 0), s.get("format") == "date"

    def check(value) -> bool:
        if type(value) is not str or len(value) < least:
            return False
        return not date or _is_date(value)

    return check


def _number(s: dict, integer: bool):
    low, high = s.get("minimum"), s.get("maximum")
    low_x, high_x = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
    for bound in (low, high, low_x, high_x):
        if bound is not None and type(bound) not in _NUMBER:
            raise Unsupported("non-numeric bound")
    kinds = (int,) if integer else _NUMBER

    def check(value) -> bool:
        if type(value) not in kinds:  # bool is not int here, as in JSON Schema
            return False
        # Written so that NaN fails every bound and goes to the full validator.
        if low is not None and not value >= low:
            return False
        if high is not None and not value <= high:
            return False
        if low_x is not None and not value > low_x:
            return False
        if high_x is not None and not value < high_x:
            return False
        return True

    return check
