"""Checks on how rules chain: every condition can be met by some fact, every derived
fact is used, and no loop of rules can feed itself.

What a fact can carry is known statically: the case adapter's fact types declare
their fields; a rule's `assert` sets literal fields and copies others; a `conclude`
asserts a `conclusion` with its code and kind. A pattern *can match* a producer
when none of its tests is certainly false on what that producer carries.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bmdkb.engine.authoring.rule_tests import describe_tests
from bmdkb.engine.kb import conditions
from bmdkb.engine.authoring.lint.registry import check


@dataclass(frozen=True)
class Producer:
    """What one source of facts puts in working memory."""

    type: str
    rule: str | None                               # None: the case adapter
    constants: dict = field(default_factory=dict)  # fields with a known value
    carried: frozenset = frozenset()               # fields present with an unknown value


def producers(kb) -> list[Producer]:
    """Every source of facts in the knowledge base: case-asserted fact types, and each rule's conclusion or asserted fact."""
    out = []
    declared = {name: frozenset((spec or {}).get("fields", {})) for name, spec in kb.fact_types.items()}
    for name, spec in kb.fact_types.items():
        if (spec or {}).get("asserted_by") == "case":
            out.append(Producer(name, None, {}, declared[name]))
    for rule in kb.rules.values():
        if rule.concludes:
            out.append(Producer("conclusion", rule.id, {"code": rule.concludes, "kind": rule.kind},
                                declared.get("conclusion", frozenset())))
        elif rule.asserts:
            spec = rule.then["assert"]
            out.append(Producer(spec["type"], rule.id, dict(spec.get("set", {})), frozenset(spec.get("copy", []))))
    return out


def can_match(tests, producer: Producer) -> bool:
    """Whether a group of tests could hold on a fact from this producer (no test is certainly false on what it carries)."""
    for test in tests:
        if isinstance(test, conditions.AnyOf):
            if not any(can_match(group, producer) for group in test.groups):
                return False
        elif test.field in producer.constants:
            if conditions.evaluate_test(test, {test.field: producer.constants[test.field]}) == conditions.FALSE:
                return False
        elif test.field not in producer.carried and not (test.op == "exists" and test.value is False):
            return False   # the field is never there, so the test is never satisfied
    return True


def _reachable(kb, prods) -> set:
    """Rules that can fire on some case: every pattern matches the case or a reachable rule's fact."""
    available = [p for p in prods if p.rule is None]
    by_rule = {p.rule: p for p in prods if p.rule}
    reached, changed = set(), True
    while changed:
        changed = False
        for rule in kb.rules.values():
            if rule.id in reached:
                continue
            if all(any(p.type == pat.fact and can_match(pat.tests, p) for p in available) for pat in rule.patterns):
                reached.add(rule.id)
                if rule.id in by_rule:
                    available.append(by_rule[rule.id])
                changed = True
    return reached


def _unmet(kb, prods, reached):
    """(rule, pattern index, check id, message) for each rule that can never fire."""
    for rule in kb.rules.values():
        if rule.id in reached:
            continue
        for i, pat in enumerate(rule.patterns):
            of_type = [p for p in prods if p.type == pat.fact]
            matching = [p for p in of_type if can_match(pat.tests, p)]
            if any(p.rule is None or p.rule in reached for p in matching):
                continue
            if not of_type:
                yield rule, i, "fact-type-unasserted", \
                    f"nothing asserts {pat.fact!r} facts (no rule asserts or concludes them and cases do not provide them): " \
                    f"rule {rule.id} can never fire"
            elif not matching:
                yield rule, i, "rule-unreachable", \
                    f"no {pat.fact} fact can satisfy `{pat.alias}`: no rule or case sets {_describe(pat.tests)}; " \
                    f"rule {rule.id} can never fire"
            else:
                via = ", ".join(sorted(p.rule for p in matching))
                yield rule, i, "rule-unreachable", \
                    f"`{pat.alias}` can only be met by facts of rules that can never fire ({via}): rule {rule.id} can never fire"
            break


def _describe(tests) -> str:
    return describe_tests(tests) or "it"


@check("fact-type-unasserted", "error", "a condition is on a fact type that nothing asserts (the rule can never fire)")
def fact_type_unasserted(draft):
    """Conditions on a fact type that neither the case nor any rule asserts."""
    prods = producers(draft.kb)
    for rule, i, check_id, message in _unmet(draft.kb, prods, _reachable(draft.kb, prods)):
        if check_id == "fact-type-unasserted":
            yield rule.file, f"when[{i}].fact", message


@check("rule-unreachable", "error",
       "a condition no asserted fact can satisfy (a value, code or field nothing sets, or only unreachable rules set)")
def rule_unreachable(draft):
    """Conditions that no reachable producer's facts can satisfy, so the rule can never fire."""
    prods = producers(draft.kb)
    for rule, i, check_id, message in _unmet(draft.kb, prods, _reachable(draft.kb, prods)):
        if check_id == "rule-unreachable":
            yield rule.file, f"when[{i}]", message


@check("derived-fact-unused", "warning", "a rule asserts a derived fact that no rule's condition can match")
def derived_fact_unused(draft):
    """Facts a rule asserts that no rule's condition could match."""
    patterns = [pat for rule in draft.kb.rules.values() for pat in rule.patterns]
    for prod in producers(draft.kb):
        if prod.rule is None or prod.type == "conclusion":
            continue
        if not any(pat.fact == prod.type and can_match(pat.tests, prod) for pat in patterns):
            rule = draft.kb.rules[prod.rule]
            shown = ", ".join(f"{k} = {v}" for k, v in prod.constants.items())
            yield rule.file, "then.assert", \
                f"no rule matches the {prod.type} fact this rule asserts" + (f" ({shown})" if shown else "")


@check("chain-cycle", "error", "rules feed each other's conditions in a loop that could fire forever")
def chain_cycle(draft):
    """Loops of rules in which each can match what the previous one asserts."""
    kb = draft.kb
    edges = {rule_id: set() for rule_id in kb.rules}
    for prod in producers(kb):
        if prod.rule is None:
            continue
        for rule in kb.rules.values():
            if any(pat.fact == prod.type and can_match(pat.tests, prod) for pat in rule.patterns):
                edges[prod.rule].add(rule.id)
    for component in _cycles(edges):
        first = min(component)
        loop = " -> ".join(_loop_path(edges, first, set(component)) + [first])
        yield kb.rules[first].file, "when", \
            f"{loop}: each rule can match what the previous one asserts, so the chain could fire forever"


def _cycles(edges: dict) -> list[list]:
    """Strongly connected components that contain a cycle (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    out.append(sorted(component))
    return out


def _loop_path(edges: dict, start: str, members: set) -> list:
    """The shortest loop from ``start`` back to itself inside its component (breadth first)."""
    parents, queue = {}, [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges[node] & members):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return path[::-1]
            if nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return [start]
