"""The only module that touches durable_rules.

It registers the compiled rules on a private synchronous host (durable's stock
host starts timer threads that crash with out-of-order state deletion), asserts
one case's facts under its own session id, records every firing with the exact
facts it matched, and deletes the session state afterwards so nothing survives
between cases. Actions only record and assert; they never raise into the engine,
because durable_rules swallows exceptions raised in actions.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from durable import engine as _durable

from .compiler import SINK_RULE, compile_rules, matched_types
from .errors import Problem, RuleActionError
from .facts import Fact

RULESET = "bmdkb"


class _SynchronousHost(_durable.Host):
    def _run(self):  # no background dispatch threads: every action runs inside assert_facts
        pass


@dataclass
class Firing:
    rule: str
    matched: dict  # alias -> engine view of the fact (dict with id and type)


@dataclass
class _Session:
    sid: str
    firings: list = field(default_factory=list)
    asserted: list = field(default_factory=list)  # Facts asserted by rules, in order
    ids: set = field(default_factory=set)
    error: tuple | None = None


class Runtime:
    """Compiled knowledge base, ready to run cases one at a time."""

    def __init__(self, kb):
        self._kb = kb
        self._types = matched_types(kb)
        self._sids = itertools.count(1)
        self._session: _Session | None = None
        definition = {}
        for rule_id, condition in compile_rules(kb).items():
            definition[rule_id] = dict(condition, run=self._action(kb.rules[rule_id]))
        definition["__sink__"] = dict(SINK_RULE, run=lambda c: None)
        self._host = _SynchronousHost()
        self._host.register_rulesets({RULESET: definition})

    def _action(self, rule):
        aliases = [p.alias for p in rule.patterns]
        produce = _producer(rule)

        def run(c):
            session = self._session
            try:
                matched = {alias: dict(c._m[alias]) for alias in aliases}
                session.firings.append(Firing(rule.id, matched))
                fact = produce(matched)
                if fact is not None and fact.id not in session.ids:
                    session.ids.add(fact.id)
                    session.asserted.append(fact)
                    record = fact.engine_view()
                    record["sid"] = session.sid
                    c.assert_fact(record)
            except BaseException as exc:  # reported by run(), never lost in the engine
                if session.error is None:
                    session.error = (rule.id, f"{type(exc).__name__}: {exc}")

        return run

    def run(self, facts: list[Fact]) -> tuple[list[Firing], list[Fact]]:
        """Assert one case's facts, let the rules chain, return firings and rule-asserted facts."""
        session = _Session(str(next(self._sids)))
        session.ids = {f.id for f in facts}
        records = []
        for fact in facts:
            if fact.type in self._types:
                record = fact.engine_view()
                record["sid"] = session.sid
                records.append(record)
        self._session = session
        try:
            state = self._host.assert_facts(RULESET, records) if records else {}
        except _durable.MessageObservedException:
            raise RuleActionError(Problem("", "", "the engine saw the same fact twice in one case")) from None
        finally:
            self._session = None
            self._host.delete_state(RULESET, session.sid)
        if session.error is None and isinstance(state, dict) and state.get("exception"):
            session.error = ("(engine)", str(state["exception"]).split(", traceback")[0])
        if session.error:
            rule_id, message = session.error
            raise RuleActionError(Problem(self._kb.rules[rule_id].file if rule_id in self._kb.rules else "",
                                          "", f"rule {rule_id} failed while running: {message}"))
        return session.firings, session.asserted


def _producer(rule):
    """What one firing adds to the facts: a conclusion, a derived fact, or nothing."""
    if rule.concludes:
        code, kind = rule.concludes, rule.kind

        def conclude(matched):
            return Fact(f"conclusion:{code}", "conclusion", {"code": code, "kind": kind}, rule=rule.id)

        return conclude
    spec = rule.then["assert"]
    source, copy, constants = spec.get("from"), spec.get("copy", []), spec.get("set", {})

    def derive(matched):
        used = sorted(m["id"] for m in matched.values())
        fields = {k: matched[source][k] for k in copy if source and k in matched[source]}
        fields.update(constants)
        return Fact(f"{rule.id}({'+'.join(used)})", spec["type"], fields, rule=rule.id,
                    because=[matched[p.alias]["id"] for p in rule.patterns])

    return derive
