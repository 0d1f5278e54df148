"""What lint's checks see: the shared tolerant reading of the knowledge base
(engine/kb_reader.py) and the conclusion codes the contract promises."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import kb_reader
from ..kb_reader import Reading
from ..knowledge_base import canonical_digest


@dataclass
class Draft(Reading):
    contract: list = field(default_factory=list)   # [{code, kind}] the conclusions contract promises


def read(root, contract: list[dict]) -> Draft:
    """Read the knowledge base at ``root`` for lint; never raises for its content."""
    return Draft(**vars(kb_reader.read(root)), contract=contract)


def document_digest(data) -> str:
    """Digest of a parsed document: comments and layout are not content."""
    return canonical_digest(data)
