"""Escaping of input-derived strings, one helper per output format.

A case file is input: its case_id, scanner names and notes can hold newlines (which would
forge report lines), terminal escape codes, or HTML and Markdown. Renderers pass every such
string through the helper of their format before it reaches the page:

- ``text``: control characters (C0 including newline, CR and tab; DEL; C1, among them the
  8-bit CSI) and invisible direction overrides are shown as visible escapes (``\\n``,
  ``\\x1b``, ``\\u202e``), so one field is always one piece of one line and nothing reaches the
  terminal as a control sequence.
- ``markdown``: ``text``, then HTML's ``& < >`` as entities and the characters that make
  Markdown links, images, code spans, emphasis or tables (``\\ ` * [ ] |``) backslash-escaped
  (``_`` inside a word, as in conclusion codes, is not emphasis in CommonMark, and with ``[``
  escaped ``(`` and ``!`` cannot make a link or an image).
- ``code``: a Markdown code span that no backtick in the string can close.
- ``json_text``: the JSON encoder escapes C0 controls; the C1 controls and direction overrides
  it leaves raw become ``\\u`` escapes (same value; unchanged bytes for documents without them).
"""
from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, line and paragraph separators
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MARKDOWN = re.compile(r"([\\`*\[\]|])")


def _visible(match: re.Match) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def text(value) -> str:
    """``value`` as one piece of one line of a terminal report."""
    return _CONTROL.sub(_visible, str(value))


def markdown(value) -> str:
    """``value`` as literal text in Markdown: no HTML, no markup, one line."""
    escaped = text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", escaped)


def code(value) -> str:
    """``value`` as a Markdown code span (backslashes are literal there; only backticks matter)."""
    value = text(value)
    fence = "`"
    while fence in value:
        fence += "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(encoded: str) -> str:
    """Encoded JSON with the controls its encoder leaves raw written as \\u escapes: the same
    JSON value, and the same bytes for every document without them."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", encoded)


def lines(report: str) -> str:
    """A whole report with control characters escaped inside each of its lines (the newlines
    between lines are kept): a last guard for reports built from stored, input-derived text."""
    return "\n".join(text(line) for line in report.split("\n"))


def deep(document, helper):
    """A copy of a JSON-like document with ``helper`` applied to every string value (keys kept)."""
    if isinstance(document, str):
        return helper(document)
    if isinstance(document, dict):
        return {key: deep(value, helper) for key, value in document.items()}
    if isinstance(document, (list, tuple)):
        return [deep(value, helper) for value in document]
    return document
