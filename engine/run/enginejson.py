"""The JSON handed to durable_rules' C engine: numbers written so that it reads exactly
the double (or integer) Python holds.

durable's parser (json.c ``getNumber``) reads ``-?digits`` as an integer (``atoll``) and a
number as a double (``atof``, glibc: correctly rounded) only when it has a decimal point,
optionally followed by an exponent. An exponent without a point (``3e-05``, ``2e+16``,
what Python writes for 0.00003 and 2e16) is a parse error: in ``assert_facts`` the engine
silently drops that fact and every later fact of the batch, and in a ruleset definition
the ruleset is refused (error 204). So such floats are written ``3.0e-05``, which atof
reads to the same double, being ``repr``'s shortest round-trip text with ``.0`` added.
Everything else json writes is read exactly: ``repr`` round-trips through a correctly
rounded ``strtod``, ``-0.0`` stays -0.0, integers are exact up to 2**63 - 1 (larger ones
saturate, as ``strtoll`` does; no case field or parameter comes near). NaN and infinity
have no JSON form and are refused on input, so the encoder refuses them too.

The fast path is the C JSON encoder; only text that has a number in exponent form without
a point (found by a substring test, then a regular expression; strings may trip them too,
which costs time, not correctness) is written again by the exact, slower encoder.
"""
from __future__ import annotations

import json
import re

_fast = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_encode_string = json.encoder.encode_basestring   # ensure_ascii=False
# A number token (after [ : or ,) whose integer digits run straight into an exponent.
_EXPONENT_WITHOUT_POINT = re.compile(r"[\[:,]-?[0-9]+[eE]")


def number(value) -> str:
    """The text durable reads as exactly ``value`` (an int or a finite float)."""
    if type(value) is float or isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} has no JSON form")
        text = float.__repr__(value)
        if "e" in text and "." not in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    return int.__repr__(value)


def _exact(obj) -> str:
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return _encode_string(obj)
    if isinstance(obj, (int, float)):
        return number(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_encode_string(str(k))}:{_exact(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_exact(v) for v in obj) + "]"
    raise TypeError(f"{type(obj).__name__} cannot be handed to the rule engine")


def dumps(obj) -> str:
    """Compact JSON of ``obj`` that durable_rules reads number for number as Python holds it."""
    text = _fast(obj)
    # repr writes an exponent always with its sign: no "e-" or "e+", no exponent (a fast
    # substring test; the regular expression is three times slower on a case's 4 KB).
    if ("e-" not in text and "e+" not in text) or _EXPONENT_WITHOUT_POINT.search(text) is None:
        return text
    return _exact(obj)
