"""Field paths, the one syntax every message, rule test and explanation uses to name a place
in a document: names joined by dots, list positions in brackets (``scans[1].sites.total_hip``).

API::

    join(parts) -> str              ['scans', 1, 'sites'] -> 'scans[1].sites'  ('' for no parts)
    join_inner_first(parts) -> str  the same for parts listed innermost first; '(top level)' for none
    split(path) -> list | None      'scans[1].sites' -> ['scans', 1, 'sites']; None unless well formed
    lookup(doc, path) -> (found, value)  the value a path names in a document
"""
from __future__ import annotations

import re

TOP_LEVEL = "(top level)"
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")
# lookup's reading: a name is anything but a dot or a bracket (a case's own keys, such as a
# finding's name, fill in templates like ``findings.<name>``), with at most one position after it.
_LOOSE = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?")


def join(parts) -> str:
    """``['scans', 1, 'sites']`` -> ``scans[1].sites``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def join_inner_first(parts) -> str:
    """``join`` of parts listed innermost first (as an error collects them on its way out);
    ``(top level)`` for none."""
    return join(reversed(list(parts))) or TOP_LEVEL


def split(path) -> list | None:
    """``scans[1].sites.total_hip`` -> ``['scans', 1, 'sites', 'total_hip']``; None when malformed
    (each name an identifier, each position a number in brackets)."""
    if not isinstance(path, str) or not path:
        return None
    tokens = []
    for segment in path.split("."):
        m = _SEGMENT.match(segment)
        if not m:
            return None
        tokens.append(m.group(1))
        tokens.extend(int(i) for i in _INDEX.findall(m.group(2)))
    return tokens


def lookup(doc, path: str) -> tuple[bool, object]:
    """The value at ``path`` (``scans[1].sites.total_hip.bmd_g_cm2``) in ``doc``: (found, value);
    a value of None counts as not found (not recorded)."""
    node = doc
    for name, index in _LOOSE.findall(path):
        if not isinstance(node, dict) or name not in node:
            return False, None
        node = node[name]
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return False, None
            node = node[int(index)]
    return node is not None, node
