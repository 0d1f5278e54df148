"""The knowledge base as evaluation sees it: the records the KB reader builds (rules, citations,
sources, the knowledge base itself) and the digests and checks defined on them. Both the reader
and ``knowledge_base.load`` use these; this module imports neither."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from bmdkb.engine.kb import citations
from bmdkb.engine.kb.conditions import Pattern, parameters_used
from bmdkb.engine.kb.stages import StageOrder
from bmdkb.engine.kb.then import Then


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_digest(obj) -> str:
    """``sha256:`` digest of ``obj`` as canonical JSON (sorted keys, no spaces): equal content, equal digest."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + sha256_bytes(text.encode("utf-8"))


@dataclass
class Citation:
    """A passage of a registered source a rule cites: source id, section, verbatim quote, and the
    article's reference numbers it gives."""

    source: str
    section: str
    quote: str
    references: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict) -> Citation:
        """From a rule file's citation mapping."""
        return cls(raw["source"], raw["section"], raw["quote"], raw.get("references", []))

    def to_dict(self) -> dict:
        """As the result document cites it (``references`` only when there are some)."""
        out = {"source": self.source, "section": self.section, "quote": self.quote}
        if self.references:
            out["references"] = list(self.references)
        return out


@dataclass
class Rule:
    """One rule as evaluation sees it: its patterns (``when``, parsed), its typed ``then``, statements
    and citations; ``data`` is the rule file as read and ``digest`` what a reviewer approves."""

    id: str
    version: int
    title: str
    kind: str
    author: str
    patterns: tuple  # of conditions.Pattern
    then: Then       # built from the rule file's mapping when the rule is constructed
    statement: dict
    citations: list
    uses: list
    file: str
    data: dict
    digest: str = ""

    def __post_init__(self):
        if not isinstance(self.then, Then):
            self.then = Then.from_dict(self.then)

    @property
    def concludes(self) -> str | None:
        """The conclusion code this rule draws, or None when it asserts a fact."""
        return self.then.conclude.code if self.then.conclude else None

    @property
    def support(self) -> str:
        """How strongly its conclusion is drawn: considered (the default) or supported."""
        return self.then.conclude.support if self.then.conclude else "considered"

    @property
    def asserts(self) -> str | None:
        """The type of fact this rule asserts, or None when it concludes."""
        return self.then.assertion.type if self.then.assertion else None

    @property
    def parameters(self) -> list[str]:
        """The parameters (parameters.yaml ids) its conditions use."""
        return parameters_used(self.patterns)

    def pattern(self, alias: str) -> Pattern | None:
        """Its pattern aliased ``alias``, or None."""
        return next((p for p in self.patterns if p.alias == alias), None)


@dataclass
class Source:
    """A registered source document: its metadata (sections, sha256...) and its text."""

    id: str
    meta: dict
    text: str
    file: str


@dataclass
class KnowledgeBase:
    """A loaded and checked knowledge base: metadata, stages, fact types, parameters, published
    figures, the adapter's domain data, rules (in stage order, then id), sources, references,
    policy, board roster, and the digests of its files."""

    root: Path
    meta: dict
    stages: list
    fact_types: dict
    parameters: dict       # id -> entry (value, unit, description, provenance)
    facts: dict            # id -> entry (description, values, citations)
    domain_data: dict      # the adapter's data files: DataFile.key -> data (e.g. treatment_classes)
    rules: dict            # id -> Rule, in stage order then id
    sources: dict          # id -> Source
    references: dict       # number -> entry
    coverage: dict
    policy: dict
    files: dict            # relative path -> sha256 of the bytes
    digest: str = ""
    board: dict = field(default_factory=dict)   # knowledge/board.yaml: the editorial board roster

    @property
    def release(self) -> str:
        """The release version (kb.yaml's ``release``)."""
        return self.meta["release"]

    @property
    def headline_kind(self) -> str | None:
        """The stage whose conclusions head a result (the result's summary.patterns, the first
        section of a report, with the adapter's summary lines): the stage kb.yaml marks
        ``headline: true``, else the first shown stage."""
        shown = [s for s in self.stages if s.get("shown")]
        marked = [s for s in self.stages if s.get("headline")]
        first = (marked or shown or [None])[0]
        return first["kind"] if first else None

    @property
    def stage_order(self) -> StageOrder:
        """The order of the stages (engine/kb/stages.py)."""
        return StageOrder(self.stages)

    def stage_index(self, kind: str) -> int:
        """The position of stage ``kind``; after every stage when none is of that kind."""
        return self.stage_order.index(kind)

    def rules_concluding(self, code: str) -> list[Rule]:
        """Every rule that concludes ``code``, in knowledge-base order."""
        return [r for r in self.rules.values() if r.concludes == code]

    def codes(self) -> list[str]:
        """Every conclusion code some rule concludes, sorted."""
        return sorted({r.concludes for r in self.rules.values() if r.concludes})


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
