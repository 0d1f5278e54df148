"""What a rule firing is and what it adds, shared by both rule engines (runtime.py on
durable_rules, clips_runtime.py on CLIPS), so the two cannot drift apart."""
from __future__ import annotations

from dataclasses import dataclass

from bmdkb.engine.run.facts import Fact


@dataclass
class Firing:
    """One rule firing: the rule and the fact each of its conditions matched, by alias."""

    rule: str
    matched: dict  # alias -> engine view of the fact (dict with id and type)


def producer(rule):
    """What one firing adds to the facts: a conclusion, a derived fact, or nothing.
    A derived fact's id is the rule's id and the sorted ids it matched, so the same
    match made twice adds one fact."""
    if rule.concludes:
        code, kind = rule.concludes, rule.kind

        def conclude(matched):
            return Fact(f"conclusion:{code}", "conclusion", {"code": code, "kind": kind}, rule=rule.id)

        return conclude
    spec = rule.then.assertion
    source, copy, constants, type_ = spec.source, spec.copy, spec.constants, spec.type

    def derive(matched):
        used = sorted(m["id"] for m in matched.values())
        fields = {k: matched[source][k] for k in copy if source and k in matched[source]}
        fields.update(constants)
        return Fact(f"{rule.id}({'+'.join(used)})", type_, fields, rule=rule.id,
                    because=[matched[p.alias]["id"] for p in rule.patterns])

    return derive
