"""The explanation model: typed nodes for why a conclusion was drawn and why one was not.

Nodes carry values and keys only (the rule, the fact, the test, its outcome, the input paths that
would settle it); every English phrase is made from them by wording.py, and serialise.py writes
the JSON document (schemas/explanation.schema.json) from these nodes plus that wording.
Outcomes are the three states of engine/kb/conditions.py: satisfied, not satisfied, unknown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


# --- provenance -----------------------------------------------------------------------------------
@dataclass
class RuleInfo:
    """A rule's identity and editorial status as the explanation reports them."""
    id: str
    version: int
    title: str
    file: str
    digest: str
    status: str
    caution: str | None = None
    status_label: str | None = None
    approvals: list[dict] | None = None   # who approved (so far) and when: by, time, review_by


@dataclass
class Reference:
    """A numbered reference of a citation; ``record`` when resolved, else the recorded ``reason``
    (None: none recorded); ``registered``: listed in provenance/references.yaml at all."""
    number: int
    resolved: bool
    record: dict | None = None
    verification: str | None = None
    reason: str | None = None
    registered: bool = True


@dataclass
class Citation:
    """A rule's quoted source passage; ``verified``: found verbatim in the registered text."""
    source: str
    title: str
    section: str
    quote: str
    verified: bool
    references: list[Reference]
    problem: tuple | None = None          # (field, message) of the first failure (engine/kb/citations.py)


# --- conditions -----------------------------------------------------------------------------------
@dataclass
class Parameter:
    """A threshold read from the knowledge base's parameters: ``origin`` is cited, local_policy or
    not_stated (``owner``: the local policy's owner, when named)."""
    name: str
    value: object
    times: float
    unit: str
    origin: str
    owner: str | None = None


@dataclass
class TestOutcome:
    """One test of a condition on one fact (None: no fact to test): its outcome, the parameter its
    threshold comes from, the field's unit and, when unknown, the input paths that would settle it."""
    test: object                          # engine.kb.conditions.Test
    fact: object | None                   # engine.run.facts.Fact
    state: str
    parameter: Parameter | None = None
    unit: str = ""
    settling: list[str] | None = None

    @property
    def actual(self):
        """The fact's value of the tested field (None: not recorded)."""
        return self.fact.fields.get(self.test.field) if self.fact is not None else None


@dataclass
class GroupOutcome:
    """One alternative of an ``any`` test: all its tests must hold."""
    state: str
    tests: list


@dataclass
class AnyOutcome:
    """An ``any`` test: at least one of its groups must hold."""
    groups: list[GroupOutcome]
    state: str


Outcome = Union[TestOutcome, AnyOutcome]


# --- why ------------------------------------------------------------------------------------------
@dataclass
class Condition:
    """A rule's pattern, the fact it matched, how its tests came out and where that fact came from."""
    alias: str
    fact_type: str
    fact: object
    state: str
    tests: list[Outcome]
    basis: "Basis"


@dataclass
class Match:
    """One way a rule matched: a condition per pattern."""
    conditions: list[Condition]


@dataclass
class ConclusionNode:
    """A conclusion the case produced, the rule that drew it and each way that rule matched."""
    code: str
    kind: str
    support: str
    statement: dict                       # clinician and patient wording, from the rule
    rule: RuleInfo
    matches: list[Match]
    citations: list[Citation]
    details: list | None = None


@dataclass
class DerivedNode:
    """A fact a rule asserted, and the match that asserted it (empty when none is found)."""
    fact: object
    rule: RuleInfo
    match: Match
    citations: list[Citation]


@dataclass
class ComputedNode:
    """A fact the case adapter computed from other facts."""
    fact: object
    sources: list["Basis"]


@dataclass
class InputEntry:
    """One input field: its path and, when recorded, the value given there (``value``) and the
    value the fact holds (``fact_value``, shown when the two differ, e.g. a class read from an agent)."""
    field: str
    path: str
    recorded: bool
    value: object = None
    fact_value: object = None
    differs: bool = False
    unit: str = ""


@dataclass
class InputNode:
    """A fact read from the case, with the input fields behind it."""
    fact: object
    inputs: list[InputEntry]


Basis = Union[ConclusionNode, DerivedNode, ComputedNode, InputNode]


# --- why not --------------------------------------------------------------------------------------
@dataclass
class Candidate:
    """A fact of the wanted type that came closest to a pattern."""
    fact: object
    state: str
    tests: list[Outcome]


@dataclass
class Absence:
    """No fact of ``type_`` with the ``identity`` tests exists; ``produced``: rules would derive
    one (else the case would give it); ``inputs``: paths that would record it."""
    type_: str
    identity: tuple
    produced: bool
    inputs: list[str] | None = None


@dataclass
class PatternAttempt:
    """How far one pattern of a rule got: matched, its closest candidates, what is absent and the
    rules that could have produced the fact."""
    alias: str
    fact_type: str
    state: str
    later_needs: tuple | None = None      # tests a later rule adds on this pattern's fact
    matched: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    missing: Absence | None = None
    truncated: bool = False
    producers: list["Attempt"] | None = None


@dataclass
class Attempt:
    """A rule that could have concluded (or derived) what was asked, and how far it got."""
    rule: RuleInfo
    fired: bool
    state: str
    concludes: str | None = None
    support: str | None = None
    asserts: str | None = None
    repeat: bool = False                  # already shown in this document
    patterns: list[PatternAttempt] = field(default_factory=list)


@dataclass
class WhyNot:
    """Every rule that could conclude ``code`` (for a code that fired: stronger ones that did not)."""
    code: str
    fired: bool
    rules: list[Attempt]


@dataclass
class Explanation:
    """The whole answer to `bmdkb explain CASE CODE`."""
    case_id: str
    case_file: str
    knowledge_base: dict
    code: str
    asked: str                            # why | why-not
    fired: bool
    why: ConclusionNode | None = None
    why_not: WhyNot | None = None
