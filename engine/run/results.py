"""Firings -> the result (engine/run/document.py): one conclusion per code, ordered, cited,
traced, and cautioned when any content it rests on is not approved."""
from __future__ import annotations

from bmdkb.engine.kb.identity import RESULT_KEYS, identity
from bmdkb.engine.review.governance import PENDING
from bmdkb.engine.run.document import (Conclusion, KnowledgeBaseRef, ReferenceFigure, Result, RuleRef, Summary,
                                       UnapprovedRule, Withheld, fact_ref)

SUPPORT_RANK = {"considered": 0, "supported": 1}
UPSTREAM_PENDING = "rests on content pending editorial review"


_ref = fact_ref


class _Approval:
    """Whether a fact or firing rests only on approved rules, all the way down."""

    def __init__(self, statuses, asserted_by_id, firings_by_code):
        self.statuses = statuses
        self.asserted = asserted_by_id
        self.firings_by_code = firings_by_code
        self.memo = {}

    def rule(self, rule_id: str) -> bool:
        """Whether the rule itself is approved."""
        return self.statuses[rule_id].approved

    def fact(self, fact_id: str) -> bool:
        """Whether the fact rests only on approved rules (input facts always do)."""
        if fact_id in self.memo:
            return self.memo[fact_id]
        self.memo[fact_id] = False  # guards against cycles; rules are monotonic so none is expected
        if fact_id.startswith("conclusion:"):
            ok = any(self.firing(f) for f in self.firings_by_code.get(_ref(fact_id), []))
        elif fact_id in self.asserted:
            fact = self.asserted[fact_id]
            ok = self.rule(fact.rule) and all(self.fact(b) for b in fact.because)
        else:
            ok = True  # an input or adapter-derived fact
        self.memo[fact_id] = ok
        return ok

    def firing(self, firing) -> bool:
        """Whether the firing's rule and every fact it matched rest only on approved rules."""
        return self.rule(firing.rule) and all(self.fact(m["id"]) for m in firing.matched.values())

    # -- why something is not approved: the unapproved rules it rests on ----------------------------
    def fact_blockers(self, fact_id: str) -> frozenset:
        """The unapproved rules the fact rests on."""
        key = ("blockers", fact_id)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = frozenset()  # cycle guard, as above
        if fact_id.startswith("conclusion:"):
            found = self.code_blockers(_ref(fact_id))
        elif fact_id in self.asserted:
            fact = self.asserted[fact_id]
            found = frozenset([] if self.rule(fact.rule) else [fact.rule]).union(
                *(self.fact_blockers(b) for b in fact.because))
        else:
            found = frozenset()
        self.memo[key] = found
        return found

    def firing_blockers(self, firing) -> frozenset:
        """The unapproved rules the firing rests on, its own included."""
        own = frozenset([] if self.rule(firing.rule) else [firing.rule])
        return own.union(*(self.fact_blockers(m["id"]) for m in firing.matched.values()))

    def code_blockers(self, code: str) -> frozenset:
        """The unapproved rules behind the firing of ``code`` that rests on the fewest of them."""
        options = [self.firing_blockers(f) for f in self.firings_by_code.get(code, [])]
        return min(options, key=lambda b: (len(b), sorted(b))) if options else frozenset()


def _orders(kb) -> tuple[dict, object]:
    """(rule id -> position in the knowledge base, the stage order: kb.stage_order)."""
    return {rule_id: i for i, rule_id in enumerate(kb.rules)}, kb.stage_order


def build_result(kb, case_id: str, facts, firings, asserted, statuses, approved_only: bool) -> Result:
    """The result of one case: one conclusion per concluded code (the best-supported firing's rule
    speaks for it), in stage order then code, the facts shown, and the summary. ``statuses`` are
    the rules' review statuses (governance.statuses); with ``approved_only`` conclusions and
    derived facts that rest on unapproved rules are withheld and counted instead."""
    rule_order, stage_order = _orders(kb)
    firings_by_code: dict[str, list] = {}
    for firing in firings:
        code = kb.rules[firing.rule].concludes
        if code:
            firings_by_code.setdefault(code, []).append(firing)
    approval = _Approval(statuses, {f.id: f for f in asserted}, firings_by_code)

    conclusions, withheld = [], []
    for code, code_firings in firings_by_code.items():
        if approved_only:
            code_firings = [f for f in code_firings if approval.firing(f)]
            if not code_firings:
                withheld.append(code)
                continue
        conclusions.append(_conclusion(kb, code, code_firings, statuses, approval, rule_order))
    conclusions.sort(key=lambda c: (stage_order.index(c.kind), c.code))

    shown_facts = list(facts)
    withheld_facts = 0
    for fact in asserted:
        if fact.type != "conclusion":
            if approved_only and not approval.fact(fact.id):
                withheld_facts += 1  # derived by (or from) a rule not approved: not shown in approved-only mode
                continue
            shown_facts.append(fact)
    summary = Summary(
        patterns=[c.code for c in conclusions if c.kind == kb.headline_kind],
        conclusions=len(conclusions),
        withheld=len(withheld),
        withheld_codes=sorted(withheld),
    )
    if approved_only:
        summary.withheld_conclusions = [_withheld(kb, code, approval, statuses) for code in sorted(withheld)]
        summary.withheld_facts = withheld_facts
    return Result(
        case_id=case_id,
        knowledge_base=KnowledgeBaseRef(**identity(kb, RESULT_KEYS)),
        mode="approved-only" if approved_only else "preview",
        facts=shown_facts,
        conclusions=conclusions,
        summary=summary,
    )


def _withheld(kb, code: str, approval: _Approval, statuses) -> Withheld:
    """A conclusion approved-only mode withheld: its code and kind, and the unapproved rules it rests on."""
    rules = sorted(approval.code_blockers(code), key=list(kb.rules).index)
    kind = next(r.kind for r in kb.rules_concluding(code))
    return Withheld(code, kind, [UnapprovedRule(r, kb.rules[r].version, statuses[r].status) for r in rules])


def _conclusion(kb, code, code_firings, statuses, approval, rule_order) -> Conclusion:
    best = max(code_firings, key=lambda f: (SUPPORT_RANK[kb.rules[f.rule].support], -rule_order[f.rule]))
    rule = kb.rules[best.rule]
    chosen = [f for f in code_firings if f.rule == rule.id]
    because, details = [], []
    detail_alias = rule.then.conclude.details_from
    for firing in chosen:
        for pattern in rule.patterns:
            ref = _ref(firing.matched[pattern.alias]["id"])
            if ref not in because:
                because.append(ref)
        if detail_alias:
            label = firing.matched[detail_alias].get("label")
            if label and label not in details:
                details.append(label)
    status = statuses[rule.id]
    caution = None
    if not status.approved:
        caution = status.caution or PENDING
    elif not all(approval.firing(f) for f in chosen):
        caution = UPSTREAM_PENDING
    return Conclusion(
        code=code,
        kind=rule.kind,
        statement=rule.statement["clinician"],
        patient_statement=rule.statement.get("patient", ""),
        support=rule.support,
        rule=RuleRef(rule.id, rule.version, status.status, rule.digest),
        because=because,
        citations=rule.citations,
        details=details,
        reference_figures=[ReferenceFigure(f, kb.facts[f]["description"], kb.facts[f]["values"]) for f in rule.uses],
        caution=caution,
    )
