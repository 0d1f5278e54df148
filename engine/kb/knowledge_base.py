"""``load``: read a knowledge-base root (knowledge/ + provenance/, through engine/kb/reader.py),
refuse it if any file is invalid or any citation does not verify against its registered source,
and digest the content. The records themselves are in engine/kb/model.py (re-exported here)."""
from __future__ import annotations

import os
from pathlib import Path

from bmdkb.engine.common.errors import KnowledgeBaseError
from bmdkb.engine.kb.model import (Citation, KnowledgeBase, Rule, Source, canonical_digest,  # noqa: F401 (re-exported)
                                   content_digest, rule_digest, sha256_bytes, verify_citation)

from bmdkb.engine.resources import PACKAGE_ROOT
ENV_VAR = "BMDKB_KB"


def default_root() -> Path:
    """The knowledge base shipped with bmdkb, unless $BMDKB_KB names another."""
    return Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else PACKAGE_ROOT


def load(root: str | Path | None = None) -> KnowledgeBase:
    """Load and check the knowledge base at ``root``; raise KnowledgeBaseError listing every problem."""
    from bmdkb.engine.kb.reader import read   # here: a knowledge base from the cache never needs the reader (nor jsonschema)

    reading = read(Path(root) if root else default_root())
    refusal = reading.refusal()
    if refusal is not None:
        raise refusal
    return reading.kb
