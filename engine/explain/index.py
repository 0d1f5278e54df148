"""What a case produced, looked up by id, type, rule and code: the explainer's index of one
Evaluation (facts, firings, rule-asserted facts, conclusions), and the errors for codes that are
unknown or were not concluded."""
from __future__ import annotations

from collections import defaultdict

from bmdkb.engine.common.errors import BmdkbError, Problem
from bmdkb.engine.review import governance
from bmdkb.engine.run.results import SUPPORT_RANK


class UnknownCodeError(BmdkbError):
    """A conclusion code the knowledge base does not define (exit 2)."""

    def __str__(self) -> str:  # about the command's argument, not about a file
        return "\n".join(p.message for p in self.problems)


class NotConcludedError(BmdkbError):
    """`why` asked for a conclusion the case did not produce (exit 2)."""


def check_code(kb, code: str) -> None:
    """Raise UnknownCodeError, listing the known codes, unless the knowledge base defines ``code``."""
    if code not in kb.codes():
        known = ", ".join(kb.codes())
        raise UnknownCodeError(Problem("", "", f"unknown conclusion code {code!r}; known codes: {known}"))


class CaseIndex:
    """One evaluation's facts by id and type, its firings by rule and its conclusions by code."""

    def __init__(self, kb, evaluation, statuses=None):
        self.kb = kb
        self.ev = evaluation
        self._statuses = statuses
        self.facts = {f.id: f for f in evaluation.facts}
        self.facts.update({f.id: f for f in evaluation.asserted})
        self.by_type = defaultdict(list)
        for fact in self.facts.values():
            self.by_type[fact.type].append(fact)
        self.firings = defaultdict(list)
        for firing in evaluation.firings:
            self.firings[firing.rule].append(firing)
        self.conclusions = {c["code"]: c for c in evaluation.result["conclusions"]}

    @property
    def statuses(self) -> dict:
        """Editorial status per rule, read from the review ledger only when first needed."""
        if self._statuses is None:
            self._statuses = governance.statuses(self.kb)
        return self._statuses

    def fired(self, code: str) -> bool:
        """Whether any rule concluding ``code`` fired on this case."""
        return any(self.firings[r.id] for r in self.kb.rules_concluding(code))

    def winning_rule(self, code: str):
        """The rule the result names for ``code``; else the strongest one that fired."""
        if code in self.conclusions:
            return self.kb.rules[self.conclusions[code]["rule"]["id"]]
        fired = [r for r in self.kb.rules_concluding(code) if self.firings[r.id]]
        if not fired:
            raise NotConcludedError(Problem(self.ev.file, "", f"{code} was not concluded"))
        return max(fired, key=lambda r: SUPPORT_RANK[r.support])
