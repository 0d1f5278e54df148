"""JSON output through orjson, byte for byte what the standard library writes.

Result documents are written compact (``batch`` lines) or indented by two (``evaluate --format
json``) with ``ensure_ascii=False``. orjson writes the same bytes as ``json`` for these documents
(same separators, same string escapes, shortest round-trip floats) in a fraction of the time,
with three exceptions, each handled:

- floats below 1e-4 in magnitude: ``json`` writes ``1e-05``, orjson ``0.00001`` or ``1e-7``.
  Such output (orjson's text holds ``0.0000``, or a digit, ``e-`` and digits ending where a JSON
  number may end; strings may trip the test too, which costs time, not correctness) is written
  again by ``json``;
- what orjson refuses (integers beyond 64 bits, non-string keys) or is told to refuse (dataclasses,
  dates, subclasses of str, int, dict and list, which ``json`` writes or refuses its own way):
  ``json`` writes it, or raises as it always did;
- NaN and infinities (``json`` writes ``NaN``, orjson ``null``): they never reach a document, as
  every input reader refuses them (engine/common/yamlio.py).

Without orjson installed everything goes through ``json``. tests/test_fastjson.py checks the
identity on every shipped case, generated cases and arbitrary documents.
"""
from __future__ import annotations

import json

try:
    import orjson
except ImportError:   # an optional speed-up: the standard library writes the same bytes
    orjson = None

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_indented = json.JSONEncoder(ensure_ascii=False, indent=2).encode
if orjson is not None:
    _OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
    _INDENT = _OPTIONS | orjson.OPT_INDENT_2
# A float orjson writes in a form json does not: "0.00001" (json: 1e-05) or "1e-7" (json: 1e-07).


_DIGITS = b"0123456789"
_NUMBER_ENDS = (b"", b",", b"]", b"}", b" ", b"\n", b"\r", b"\t")   # what may follow a number in JSON


def _differs(data: bytes) -> bool:
    """Whether orjson's text may hold a float ``json`` writes in exponent form (below 1e-4): a
    ``0.0000``, or a digit, ``e-``, digits and then what ends a JSON number (so a uuid's ``6e-5a1f``
    in a string does not count). Substring tests and splits, not a regular expression: ten times
    faster on 12 KB."""
    if b"0.0000" in data:
        return True
    if b"e-" not in data:
        return False
    pieces = data.split(b"e-")
    for before, after in zip(pieces, pieces[1:]):
        if before[-1:].isdigit() and after[:1].isdigit():
            end = 1
            while after[end:end + 1] and after[end] in _DIGITS:
                end += 1
            if after[end:end + 1] in _NUMBER_ENDS:
                return True
    return False


def compact(obj) -> str:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``, faster."""
    data = _compact_orjson(obj)
    return data.decode("utf-8") if data is not None else _compact(obj)


def compact_bytes(obj) -> bytes:
    """``compact(obj)`` as UTF-8 bytes, for an HTTP body: orjson's bytes as they are (decoding and
    encoding again would cost more than writing them, for text with accents or curly quotes)."""
    data = _compact_orjson(obj)
    return data if data is not None else _compact(obj).encode("utf-8")


def _compact_orjson(obj) -> bytes | None:
    """orjson's compact bytes of ``obj``; None when ``json`` must write it (see the module docstring)."""
    if orjson is None:
        return None
    try:
        data = orjson.dumps(obj, option=_OPTIONS)
    except TypeError:   # orjson.JSONEncodeError: json decides (writes it, or raises its own error)
        return None
    return None if _differs(data) else data


def indented(obj) -> str:
    """``json.dumps(obj, indent=2, ensure_ascii=False)``, faster."""
    if orjson is not None:
        try:
            data = orjson.dumps(obj, option=_INDENT)
        except TypeError:
            return _indented(obj)
        if not _differs(data):
            return data.decode("utf-8")
    return _indented(obj)
