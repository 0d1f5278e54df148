"""Why a conclusion was drawn: the rule, each way it matched, each condition's tests on the
matched fact, and where that fact came from (an earlier conclusion, a derived or computed fact,
or the input), down to the input fields; built as model nodes, without wording."""
from __future__ import annotations

from bmdkb.engine.explain.model import (AnyOutcome, ComputedNode, Condition, ConclusionNode, DerivedNode,
                                        GroupOutcome, InputNode, Match, TestOutcome)
from bmdkb.engine.kb.conditions import UNKNOWN, AnyOf, combine_any, evaluate, evaluate_test, referenced_fields


class WhyBuilder:
    """Derivation trees over one evaluation (index), read with the vocabulary, tracer and provenance."""

    def __init__(self, index, vocabulary, tracer, provenance):
        self.index = index
        self.vocab = vocabulary
        self.tracer = tracer
        self.provenance = provenance

    def conclusion(self, code: str, stack: tuple) -> ConclusionNode:
        """The conclusion ``code`` and every match of the rule that drew it; ``stack``: codes above it."""
        if code in stack:  # rules are monotonic and staged, so a cycle means a broken knowledge base
            raise RuntimeError(f"conclusion {code} rests on itself: {' -> '.join(stack + (code,))}")
        rule = self.index.winning_rule(code)
        conclusion = self.index.conclusions.get(code, {})
        return ConclusionNode(code, rule.kind, rule.support,
                              {"clinician": rule.statement["clinician"], "patient": rule.statement.get("patient", "")},
                              self.provenance.rule_info(rule, conclusion),
                              [self.match(rule, f, stack + (code,)) for f in self.index.firings[rule.id]],
                              self.provenance.citations(rule),
                              list(conclusion["details"]) if conclusion.get("details") else None)

    def match(self, rule, firing, stack: tuple) -> Match:
        """One firing of ``rule``: each pattern's fact, tests and basis."""
        conditions = []
        for pattern in rule.patterns:
            fact = self.index.facts[firing.matched[pattern.alias]["id"]]
            conditions.append(Condition(pattern.alias, pattern.fact, fact, evaluate(pattern.tests, fact.fields),
                                        self.tests(pattern.tests, fact), self.basis(fact, pattern, stack)))
        return Match(conditions)

    def tests(self, tests: tuple, fact) -> list:
        """Each test's outcome on ``fact`` (None: no fact, the tests as stated)."""
        out = []
        for test in tests:
            if isinstance(test, AnyOf):
                groups = [GroupOutcome(evaluate(g, fact.fields if fact else {}), self.tests(g, fact))
                          for g in test.groups]
                out.append(AnyOutcome(groups, combine_any(g.state for g in groups)))
                continue
            fields = fact.fields if fact is not None else {}
            state = evaluate_test(test, fields)
            outcome = TestOutcome(test, fact, state, self.vocab.parameter(test),
                                  self.vocab.unit(fact.type, test.field) if fact is not None else "")
            if fact is not None and state == UNKNOWN:
                outcome.settling = self.tracer.settling_paths(fact, test.field)
            out.append(outcome)
        return out

    def basis(self, fact, pattern=None, stack: tuple = ()):
        """Where a matched fact came from, down to input fields."""
        if fact.type == "conclusion":
            return self.conclusion(fact.fields["code"], stack)
        if fact.rule:
            rule = self.index.kb.rules[fact.rule]
            firing = next((f for f in self.index.firings[rule.id]
                           if [f.matched[p.alias]["id"] for p in rule.patterns] == list(fact.because)), None)
            return DerivedNode(fact, self.provenance.rule_info(rule),
                               self.match(rule, firing, stack) if firing else Match([]),
                               self.provenance.citations(rule))
        if fact.derived_from:
            return ComputedNode(fact, [self.basis(self.index.facts[i]) for i in fact.derived_from])
        tested = [t.field for t in referenced_fields(pattern.tests)] if pattern is not None else None
        return InputNode(fact, self.tracer.inputs(fact, tested))
