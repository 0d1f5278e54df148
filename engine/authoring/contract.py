"""Reading a conclusion-code contract file (JSON like schemas/conclusion-codes.json) for lint."""
from __future__ import annotations

import json
from pathlib import Path

from bmdkb.engine.common.errors import BmdkbError, Problem


def read_contract(path) -> list:
    """The ``codes`` of the contract file at ``path``; BmdkbError (exit 2) when it is not one."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["codes"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BmdkbError(Problem(path, "codes", f"not a conclusion-code list: {exc}")) from None
