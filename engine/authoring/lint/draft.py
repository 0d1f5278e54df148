"""What lint's checks see: the shared tolerant reading of the knowledge base
(engine/kb/reader.py) and the conclusion codes the contract promises."""
from __future__ import annotations

from dataclasses import dataclass, field

from bmdkb.engine.kb import reader as kb_reader
from bmdkb.engine.kb.reader import Reading
from bmdkb.engine.kb.knowledge_base import canonical_digest


@dataclass
class Draft(Reading):
    """The tolerant knowledge-base reading plus the conclusion codes the contract promises: what every lint check receives."""

    contract: list = field(default_factory=list)   # [{code, kind}] the conclusions contract promises


def read(root, contract: list[dict]) -> Draft:
    """Read the knowledge base at ``root`` for lint; never raises for its content."""
    return Draft(**vars(kb_reader.read(root)), contract=contract)


def document_digest(data) -> str:
    """Digest of a parsed document: comments and layout are not content."""
    return canonical_digest(data)
