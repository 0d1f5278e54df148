"""The result document, typed: what ``evaluate`` produces for one case, and its one serialiser.

``Result`` and the objects it holds are what the engine builds (engine/run/results.py) and
what renderers read. ``to_dict`` turns a ``Result`` into the JSON document of the contract
(/work/shared/spec/conclusions.md, ``evaluate --format json``); it is the only place that
knows the document's keys and their order, and the order is part of the output: keep it.

Facts are kept as the ``Fact`` records the adapter and the rules produced; a derived fact's
``because`` is written with conclusion facts named by their code (see ``fact_ref``).
"""
from __future__ import annotations

from dataclasses import dataclass

from bmdkb.engine.run.facts import Fact


def fact_ref(fact_id: str) -> str:
    """How a fact is named in a ``because``: a conclusion fact by its code, other facts by id."""
    return fact_id.removeprefix("conclusion:")


@dataclass(slots=True)
class KnowledgeBaseRef:
    """The knowledge base a result came from: name, release version and content digest."""

    name: str
    version: str
    digest: str


@dataclass(slots=True)
class RuleRef:
    """The rule that drew a conclusion, with its version, review status and content digest."""

    id: str
    version: int
    status: str
    digest: str


@dataclass(slots=True)
class ReferenceFigure:
    """A published figure a conclusion quotes (a ``facts.yaml`` entry the rule ``uses``)."""

    id: str
    description: str
    values: dict


@dataclass(slots=True)
class Conclusion:
    """One conclusion of a case: the code, the rule that drew it, what it rests on, its citations.

    ``citations`` holds the rule's ``knowledge_base.Citation`` objects; ``details``,
    ``reference_figures`` and ``caution`` are left out of the document when empty or None."""

    code: str
    kind: str
    statement: str
    patient_statement: str
    support: str
    rule: RuleRef
    because: list
    citations: list
    details: list
    reference_figures: list
    caution: str | None = None


@dataclass(slots=True)
class UnapprovedRule:
    """A rule not approved by the editorial board that a withheld conclusion rests on."""

    id: str
    version: int
    status: str


@dataclass(slots=True)
class Withheld:
    """A conclusion approved-only mode withheld, and the unapproved rules it rests on."""

    code: str
    kind: str
    unapproved_rules: list


@dataclass(slots=True)
class Summary:
    """Counts of a result; ``withheld_conclusions`` and ``withheld_facts`` only in approved-only mode."""

    patterns: list
    conclusions: int
    withheld: int
    withheld_codes: list
    withheld_conclusions: list | None = None
    withheld_facts: int | None = None


@dataclass(slots=True)
class Result:
    """Everything evaluation reports for one case."""

    case_id: str
    knowledge_base: KnowledgeBaseRef
    mode: str                 # preview | approved-only
    facts: list               # Fact: input and adapter-derived, then the derived facts shown
    conclusions: list         # Conclusion, in stage order then code
    summary: Summary

    @property
    def approved_only(self) -> bool:
        """Whether conclusions resting on unapproved content were withheld."""
        return self.mode == "approved-only"


# ---------------------------------------------------------------- the serialiser


def to_dict(result: Result) -> dict:
    """The result document of the contract, keys in their documented order."""
    kb = result.knowledge_base
    summary = result.summary
    out_summary = {
        "patterns": list(summary.patterns),
        "conclusions": summary.conclusions,
        "withheld": summary.withheld,
        "withheld_codes": list(summary.withheld_codes),
    }
    if summary.withheld_conclusions is not None:
        out_summary["withheld_conclusions"] = [_withheld(w) for w in summary.withheld_conclusions]
    if summary.withheld_facts is not None:
        out_summary["withheld_facts"] = summary.withheld_facts
    return {
        "case_id": result.case_id,
        "knowledge_base": {"name": kb.name, "version": kb.version, "digest": kb.digest},
        "mode": result.mode,
        "facts": [fact_to_dict(f) for f in result.facts],
        "conclusions": [_conclusion(c) for c in result.conclusions],
        "summary": out_summary,
    }


def fact_to_dict(fact: Fact) -> dict:
    """One fact as the document shows it (a derived fact's ``because`` by fact_ref)."""
    out = fact.to_dict()
    if fact.rule:
        out["because"] = [fact_ref(b) for b in fact.because]
    return out


def _conclusion(c: Conclusion) -> dict:
    rule = c.rule
    out = {
        "code": c.code,
        "kind": c.kind,
        "statement": c.statement,
        "patient_statement": c.patient_statement,
        "support": c.support,
        "rule": {"id": rule.id, "version": rule.version, "status": rule.status, "digest": rule.digest},
        "because": list(c.because),
        "citations": [citation.to_dict() for citation in c.citations],
    }
    if c.details:
        out["details"] = list(c.details)
    if c.reference_figures:
        out["reference_figures"] = [{"id": f.id, "description": f.description, "values": f.values}
                                    for f in c.reference_figures]
    if c.caution is not None:
        out["caution"] = c.caution
    return out


def _withheld(w: Withheld) -> dict:
    return {"code": w.code, "kind": w.kind,
            "unapproved_rules": [{"id": r.id, "version": r.version, "status": r.status} for r in w.unapproved_rules]}
