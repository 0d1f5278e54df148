"""Rules -> rule-engine data: plain dicts in durable_rules' JSON form, no actions.

The runtime attaches the actions; this module only translates conditions, so the
translation can be inspected and tested without the engine.
"""
from __future__ import annotations

from bmdkb.engine.kb.conditions import AnyOf, Test

_OPS = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def _test(test: Test) -> dict:
    if test.op == "eq":
        return {test.field: test.value}
    if test.op == "in":
        return {"$or": [{test.field: v} for v in test.value]}
    if test.op == "exists":
        return {("$ex" if test.value else "$nex"): {test.field: 1}}
    return {_OPS[test.op]: {test.field: test.value}}


def _group(tests: tuple) -> list[dict]:
    out = []
    for test in tests:
        if isinstance(test, AnyOf):
            out.append({"$or": [{"$and": _group(g)} for g in test.groups]})
        else:
            out.append(_test(test))
    return out


def compile_pattern(pattern) -> dict:
    """One rule condition in durable_rules' JSON form: the fact type and its tests."""
    return {"$and": [{"type": pattern.fact}] + _group(pattern.tests)}


def compile_rule(rule, priority: int) -> dict:
    """One rule's condition: every pattern is one fact; no cross-fact joins are needed."""
    return {"all": [{pattern.alias: compile_pattern(pattern)} for pattern in rule.patterns], "pri": priority}


SINK_RULE = {
    # Accepts every fact so none is refused as "not handled"; never fires.
    "all": [{"any_fact": {"$ex": {"id": 1}}}, {"never": {"type": "__never_asserted__"}}],
    "pri": 1000,
}


def compile_rules(kb) -> dict[str, dict]:
    """Rule id -> condition dict, with priorities following the stage order."""
    return {rule.id: compile_rule(rule, kb.stage_index(rule.kind) + 1) for rule in kb.rules.values()}


def matched_types(kb) -> set[str]:
    """Fact types some rule matches: only these need to enter the engine."""
    return {p.fact for rule in kb.rules.values() for p in rule.patterns}
