"""The DXA-specific knowledge the explainer still holds itself: which field is shown as a ratio,
the precision BMD is reported to, and how input paths such as ``scans[i].sites.<site>.bmd_g_cm2``
are read. Kept in this one module so that moving them to the case adapter or the fact vocabulary
(issue 11, item 1) changes one place; the contents are as they stood in engine/explain.py.
"""
from __future__ import annotations

import re

# --- display of values in the case's own units --------------------------------------------------
# A field holding a ratio is shown as the comparison of its numerator with threshold x denominator,
# in the numerator's unit (a change in LSC is shown in g/cm2 against the LSC in g/cm2). The field
# names are checked against fact-types.yaml before use; nothing else in this module names a field.
RATIO_FIELDS = {"change_in_lsc": ("delta_g_cm2", "lsc_g_cm2")}
# Decimals a unit is reported to (DXA reports BMD to 0.001 g/cm2); other numbers get up to 2.
UNIT_DECIMALS = {"g/cm2": 3}


def _placeholders(fields: dict) -> list[str]:
    """``site`` and ``name`` in sources such as ``scans[i].sites.<site>.bmd_g_cm2``, in order."""
    found = []
    for spec in fields.values():
        for name in re.findall(r"<(\w+)>", str(spec.get("source", ""))):
            if name not in found:
                found.append(name)
    return found


def _lookup(case: dict, path: str) -> tuple[bool, object]:
    """The value at input path ``scans[1].sites.total_hip.bmd_g_cm2``: (found, value)."""
    node = case
    for name, index in re.findall(r"([^.\[\]]+)(?:\[(\d+)\])?", path):
        if not isinstance(node, dict) or name not in node:
            return False, None
        node = node[name]
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return False, None
            node = node[int(index)]
    return node is not None, node


def _recorded(case: dict, path: str) -> bool:
    return _lookup(case, path)[0]


# Public names for the other modules of this package (the underscored ones are kept as they were).
placeholders, lookup, recorded = _placeholders, _lookup, _recorded
