"""How the explainer reads input paths such as ``scans[i].sites.<site>.bmd_g_cm2``. Which fields
are shown as ratios, and the precision a unit is reported to, are the case adapters' to say
(CaseAdapter.ratio_fields, read in vocabulary.py; CaseAdapter.unit_decimals, read in wording.py).
"""
from __future__ import annotations

import re

from bmdkb.engine.common import fieldpath

def _placeholders(fields: dict) -> list[str]:
    """``site`` and ``name`` in sources such as ``scans[i].sites.<site>.bmd_g_cm2``, in order."""
    found = []
    for spec in fields.values():
        for name in re.findall(r"<(\w+)>", str(spec.get("source", ""))):
            if name not in found:
                found.append(name)
    return found


_lookup = fieldpath.lookup   # (case, input path) -> (found, value): the one field-path reading


def _recorded(case: dict, path: str) -> bool:
    return _lookup(case, path)[0]


# Public names for the other modules of this package (the underscored ones are kept as they were).
placeholders, lookup, recorded = _placeholders, _lookup, _recorded
