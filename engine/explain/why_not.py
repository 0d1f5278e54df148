"""Why a conclusion was not drawn: every rule that could have drawn it, each pattern's closest
facts and their tests, what is absent, and (up to MAX_DEPTH) the rules that could have produced
a missing fact, with the tests a later rule needs pushed down onto them; built as model nodes."""
from __future__ import annotations

from bmdkb.engine.explain.model import Absence, Attempt, Candidate, PatternAttempt, WhyNot
from bmdkb.engine.kb.conditions import FALSE, TRUE, UNKNOWN, AnyOf, combine_all, combine_any, evaluate, referenced_fields
from bmdkb.engine.run.results import SUPPORT_RANK

MAX_DEPTH = 4         # how far why-not follows facts that were never produced
MAX_CANDIDATES = 3    # near-miss facts shown per condition


class WhyNotBuilder:
    """Why-not trees over one evaluation; ``why`` supplies the test outcomes."""

    def __init__(self, index, vocabulary, tracer, provenance, why):
        self.index = index
        self.kb = index.kb
        self.vocab = vocabulary
        self.tracer = tracer
        self.provenance = provenance
        self.why = why
        self._shown = {}  # why-not attempts already written out in this document -> their state

    def why_not(self, code: str) -> WhyNot:
        """The rules that could conclude ``code``; for a code that fired, the stronger ones that did not."""
        fired = self.index.fired(code)
        rules = self.kb.rules_concluding(code)
        if fired:  # only stronger rules that did not fire are news
            rank = SUPPORT_RANK[self.index.winning_rule(code).support]
            rules = [r for r in rules if SUPPORT_RANK[r.support] > rank and not self.index.firings[r.id]]
        return WhyNot(code, fired, [self.attempt(r, (), 0) for r in rules])

    def producers(self, type_: str, identity: tuple):
        """Rules that produce facts of ``type_`` whose fixed fields do not contradict ``identity``."""
        out = []
        for rule in self.kb.rules.values():
            if type_ == "conclusion" and rule.concludes:
                constants = {"code": rule.concludes, "kind": rule.kind}
            elif rule.asserts == type_:
                constants = dict(rule.then["assert"].get("set", {}))
            else:
                continue
            relevant = tuple(t for t in identity if all(x.field in constants for x in referenced_fields((t,))))
            if evaluate(relevant, constants) != FALSE:
                out.append(rule)
        return out

    def constant_fields(self, type_: str) -> set:
        """Fields every producing rule sets to a constant: what tells such facts apart."""
        if type_ == "conclusion":
            return {"code", "kind"}
        return {k for r in self.kb.rules.values() if r.asserts == type_ for k in r.then["assert"].get("set", {})}

    def attempt(self, rule, pushdown: tuple, depth: int) -> Attempt:
        """How far ``rule`` got on this case; ``pushdown`` adds tests a later rule needs on its facts."""
        key = (rule.id, pushdown)
        node = Attempt(self.provenance.rule_info(rule), bool(self.index.firings[rule.id]), UNKNOWN,
                       concludes=rule.concludes or None, support=rule.support if rule.concludes else None,
                       asserts=rule.asserts or None)
        if key in self._shown:
            node.state, node.repeat = self._shown[key], True
            return node
        self._shown[key] = UNKNOWN  # until worked out; rules are staged, so no attempt meets itself
        extra = dict(pushdown)
        node.patterns = [self.pattern_attempt(p, extra.get(p.alias, ()), depth) for p in rule.patterns]
        node.state = self._shown[key] = combine_all(p.state for p in node.patterns)
        return node

    def pattern_attempt(self, pattern, extra: tuple, depth: int) -> PatternAttempt:
        """One pattern: the fact that satisfies it, else the closest ones, what is absent, and producers."""
        tests = tuple(pattern.tests) + tuple(extra)
        node = PatternAttempt(pattern.alias, pattern.fact, UNKNOWN,  # state: worked out below
                              later_needs=tuple(referenced_fields(extra)) if extra else None)
        produced = pattern.fact not in self.kb.fact_types or self.kb.fact_types[pattern.fact].get(
            "asserted_by") != "case"
        identity_fields = self.constant_fields(pattern.fact) if produced else set(self.vocab.keys(pattern.fact))
        identity = tuple(t for t in tests if not isinstance(t, AnyOf) and t.field in identity_fields
                         and t.op in ("eq", "in"))
        candidates = [f for f in self.index.by_type[pattern.fact] if evaluate(identity, f.fields) == TRUE]
        for fact in candidates:
            if evaluate(tests, fact.fields) == TRUE:
                node.state = TRUE
                node.matched = Candidate(fact, TRUE, self.why.tests(tests, fact))
                return node
        scored = []
        for fact in candidates:
            states = [evaluate((t,), fact.fields) for t in tests]
            scored.append((states.count(TRUE), -states.count(FALSE), fact))
        scored.sort(key=lambda s: (-s[0], -s[1]))
        best = [s for s in scored if s[0] == scored[0][0]][:MAX_CANDIDATES] if scored else []
        node.candidates = [Candidate(f, evaluate(tests, f.fields), self.why.tests(tests, f)) for _, _, f in best]
        states = [c.state for c in node.candidates]
        if not candidates:
            node.missing = Absence(pattern.fact, identity, produced)
        if produced:
            if depth >= MAX_DEPTH:
                node.truncated = True
                if not candidates:
                    states.append(FALSE)
            else:
                producers = self.producers(pattern.fact, identity)
                node.producers = [self.attempt(r, self.push(r, tests), depth + 1) for r in producers]
                if not candidates:
                    states.append(combine_any(p.state for p in node.producers) if producers else FALSE)
        elif not candidates:
            states.append(UNKNOWN)  # input not recorded: the case cannot say
            paths = []
            hints = {t.field: t.value for t in identity if t.op == "eq"}
            hints["__type__"] = pattern.fact
            for test in referenced_fields(tests):
                if test.field not in identity_fields:
                    paths += [p for p in self.tracer.settling_paths(None, test.field, hints) if p not in paths]
            node.missing.inputs = paths
        node.state = combine_any(states) if states else FALSE
        return node

    def push(self, rule, tests: tuple) -> tuple:
        """Tests on the fields a producing rule copies become tests on the fact it copies them from."""
        spec = rule.then.get("assert")
        if not spec or not spec.get("from"):
            return ()
        copied = set(spec.get("copy", []))
        moved = tuple(t for t in tests if not isinstance(t, AnyOf) and t.field in copied)
        return ((spec["from"], moved),) if moved else ()
