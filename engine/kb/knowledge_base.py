"""The knowledge base as evaluation sees it, and ``load``: read a knowledge-base root
(knowledge/ + provenance/, through engine/kb_reader.py), refuse it if any file is invalid
or any citation does not verify against its registered source, and digest the content."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bmdkb.engine.kb import citations
from bmdkb.engine.kb.conditions import Pattern, parameters_used
from bmdkb.engine.kb.stages import StageOrder
from bmdkb.engine.common.errors import KnowledgeBaseError

from bmdkb.engine.resources import PACKAGE_ROOT
ENV_VAR = "BMDKB_KB"


def default_root() -> Path:
    """The knowledge base shipped with bmdkb, unless $BMDKB_KB names another."""
    return Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else PACKAGE_ROOT


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + sha256_bytes(text.encode("utf-8"))


@dataclass
class Citation:
    source: str
    section: str
    quote: str
    references: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict) -> Citation:
        return cls(raw["source"], raw["section"], raw["quote"], raw.get("references", []))

    def to_dict(self) -> dict:
        out = {"source": self.source, "section": self.section, "quote": self.quote}
        if self.references:
            out["references"] = list(self.references)
        return out


@dataclass
class Rule:
    id: str
    version: int
    title: str
    kind: str
    author: str
    patterns: tuple  # of conditions.Pattern
    then: dict
    statement: dict
    citations: list
    uses: list
    file: str
    data: dict
    digest: str = ""

    @property
    def concludes(self) -> str | None:
        return self.then.get("conclude", {}).get("code")

    @property
    def support(self) -> str:
        return self.then.get("conclude", {}).get("support", "considered")

    @property
    def asserts(self) -> str | None:
        return self.then.get("assert", {}).get("type")

    @property
    def parameters(self) -> list[str]:
        return parameters_used(self.patterns)

    def pattern(self, alias: str) -> Pattern | None:
        return next((p for p in self.patterns if p.alias == alias), None)


@dataclass
class Source:
    id: str
    meta: dict
    text: str
    file: str


@dataclass
class KnowledgeBase:
    root: Path
    meta: dict
    stages: list
    fact_types: dict
    parameters: dict       # id -> entry (value, unit, description, provenance)
    facts: dict            # id -> entry (description, values, citations)
    treatment_classes: dict
    rules: dict            # id -> Rule, in stage order then id
    sources: dict          # id -> Source
    references: dict       # number -> entry
    coverage: dict
    policy: dict
    files: dict            # relative path -> sha256 of the bytes
    digest: str = ""

    @property
    def release(self) -> str:
        return self.meta["release"]

    @property
    def stage_order(self) -> StageOrder:
        """The order of the stages (engine/kb/stages.py)."""
        return StageOrder(self.stages)

    def stage_index(self, kind: str) -> int:
        """The position of stage ``kind``; after every stage when none is of that kind."""
        return self.stage_order.index(kind)

    def rules_concluding(self, code: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.concludes == code]

    def codes(self) -> list[str]:
        return sorted({r.concludes for r in self.rules.values() if r.concludes})


def load(root: str | Path | None = None) -> KnowledgeBase:
    """Load and check the knowledge base at ``root``; raise KnowledgeBaseError listing every problem."""
    from bmdkb.engine.kb.reader import read   # here, not at the top: the reader builds this module's classes

    reading = read(Path(root) if root else default_root())
    refusal = reading.refusal()
    if refusal is not None:
        raise refusal
    return reading.kb


def verify_citation(kb: KnowledgeBase, citation: Citation) -> tuple[str, str] | None:
    """None when the citation verifies; otherwise (field, message) of the first failure
    (engine/kb/citations.py checks it)."""
    failure = citations.first_failure(kb, citation)
    return (failure.field, failure.message) if failure else None


def rule_digest(kb: KnowledgeBase, rule: Rule) -> str:
    """Digest of what a reviewer approves: the rule's content and the values it uses.
    Version and author are left out: they describe the content, they are not it."""
    content = {k: v for k, v in rule.data.items() if k not in ("version", "author")}
    content["parameters"] = {p: kb.parameters[p]["value"] for p in rule.parameters}
    content["facts"] = {f: kb.facts[f]["values"] for f in rule.uses}
    return canonical_digest(content)


def content_digest(files: dict) -> str:
    """Digest of the knowledge base's content files (the review ledger is not content)."""
    lines = sorted(f"{path} {digest}" for path, digest in files.items())
    return "sha256:" + sha256_bytes("\n".join(lines).encode("utf-8"))
