"""Reading a case file as plain data (YAML or JSON), whatever its domain: the adapter
validates it and turns it into facts."""
from __future__ import annotations

from pathlib import Path

from bmdkb.engine.common.errors import CaseError
from bmdkb.engine.common.yamlio import load_file, parse_text


def read_case(path: str | Path, display: str | None = None) -> dict:
    """Load a case file (YAML or JSON) as plain data; bad files raise CaseError."""
    return load_file(Path(path), CaseError, display)


def parse_case(text: str, name: str, as_json: bool = False) -> dict:
    """Parse case text (YAML, or JSON when ``as_json``) named ``name`` in messages; CaseError if bad."""
    return parse_text(text, name, CaseError, as_json)
