"""The only module that touches durable_rules.

It registers the compiled rules with durable_rules' C engine, asserts one case's
facts under its own session id, runs every action the engine schedules with the
exact facts it matched, and deletes the session state afterwards so nothing
survives between cases. Actions only record and assert; they never raise into
the engine, because durable_rules swallows exceptions raised in actions.

The engine is driven through its C extension directly, the way durable's own
``Ruleset`` drives it, minus what a synchronous, stateless use does not need:
no host and its timer threads (they crash with out-of-order state deletion), no
per-action ``Closure``/``Promise`` objects, no clock reads and no session-state
write-back after each action (no rule reads the session state). Facts that no
rule pattern can match (relevance.py), most of them conclusions nothing chains
on, are not sent at all. What fires, with which facts and in which order, is
what durable's own driver gives.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import durable_rules_engine as _engine
from durable.engine import MessageNotHandledException, MessageObservedException

from bmdkb.engine.run import enginejson
from bmdkb.engine.run.actions import Firing, producer as _producer
from bmdkb.engine.run.compiler import SINK_RULE, compile_rules, matched_types
from bmdkb.engine.common.errors import Problem, RuleActionError
from bmdkb.engine.run.facts import Fact
from bmdkb.engine.run.relevance import Relevance

RULESET = "bmdkb"
# durable_rules leaves a new session's action context uninitialised and frees it when
# the session is deleted: deleting a session in which no action ever started can free
# a garbage pointer and crash (reproduced: a one-scan case, first in a fresh process).
# Every case therefore carries one marker fact whose rule fires last, so an action
# always starts, and completing it leaves the context cleared before deletion.
_MARKER = "__case_end__"
_MARKER_RULE = {"all": [{"marker": {"type": _MARKER}}], "pri": 1001}
_NOT_HANDLED, _OBSERVED, _NO_STATE = 1, 2, 3   # result codes of durable's assert calls
_dumps = enginejson.dumps   # numbers in a form durable reads exactly (engine/enginejson.py)


@dataclass
class _Session:
    sid: str
    firings: list = field(default_factory=list)
    asserted: list = field(default_factory=list)  # Facts asserted by rules, in order
    ids: set = field(default_factory=set)
    error: tuple | None = None


def _state_of(result, message) -> int:
    """durable's assert result -> the state handle, or its exception (as durable.engine raises them)."""
    code = result[0]
    if code == _NOT_HANDLED:
        raise MessageNotHandledException(message)
    if code == _OBSERVED:
        raise MessageObservedException(message)
    return 0 if code == _NO_STATE else result[1]


class Runtime:
    """Compiled knowledge base, ready to run cases one at a time."""

    def __init__(self, kb):
        self._kb = kb
        self._types = matched_types(kb)
        self._could_match = Relevance(kb).could_match
        self._sids = itertools.count(1)
        self._session: _Session | None = None
        definition, self._actions = {}, {}
        for rule_id, condition in compile_rules(kb).items():
            definition[rule_id] = condition
            self._actions[rule_id] = self._action(kb.rules[rule_id])
        definition["__sink__"] = SINK_RULE
        self._actions["__sink__"] = lambda message: None
        definition[_MARKER] = _MARKER_RULE
        self._actions[_MARKER] = lambda message: None
        self._handle = _engine.create_ruleset(RULESET, _dumps(definition))

    def _action(self, rule):
        aliases = [p.alias for p in rule.patterns]
        produce = _producer(rule)
        could_match = self._could_match

        def run(message):
            session = self._session
            try:
                matched = {alias: message[alias] for alias in aliases}
                session.firings.append(Firing(rule.id, matched))
                fact = produce(matched)
                if fact is not None and fact.id not in session.ids:
                    session.ids.add(fact.id)
                    session.asserted.append(fact)
                    record = fact.engine_view()
                    if could_match(record):  # most conclusions: no rule chains on them
                        record["sid"] = session.sid
                        _state_of(_engine.assert_fact(self._handle, _dumps(record)), record)
            except BaseException as exc:  # reported by run(), never lost in the engine
                if session.error is None:
                    session.error = (rule.id, f"{type(exc).__name__}: {exc}")

        return run

    def run(self, facts: list[Fact]) -> tuple[list[Firing], list[Fact]]:
        """Assert one case's facts, let the rules chain, return firings and rule-asserted facts."""
        session = _Session(str(next(self._sids)))
        session.ids = {f.id for f in facts}
        records = [{"id": _MARKER, "type": _MARKER, "sid": session.sid}]
        types, could_match = self._types, self._could_match
        for fact in facts:
            if fact.type in types:
                record = fact.engine_view()
                if could_match(record):  # a fact no pattern can match would only cost time (relevance.py)
                    record["sid"] = session.sid
                    records.append(record)
        self._session = session
        try:
            result = _engine.assert_facts(self._handle, _dumps(records))
            if result[0] == _OBSERVED:
                self._clear_context(result[1])
            self._chain(_state_of(result, records))
        except MessageObservedException:
            raise RuleActionError(Problem("", "", "the engine saw the same fact twice in one case")) from None
        finally:
            self._session = None
            _engine.delete_state(self._handle, session.sid)
        if session.error:
            rule_id, message = session.error
            raise RuleActionError(Problem(self._kb.rules[rule_id].file if rule_id in self._kb.rules else "",
                                          "", f"rule {rule_id} failed while running: {message}"))
        return session.firings, session.asserted

    def _chain(self, state: int) -> None:
        """Run the scheduled actions one at a time until the engine has none left.
        An action's assert schedules further actions on the same state; the engine
        hands them out in its own (priority) order."""
        started = _engine.start_action_for_state(self._handle, state)
        pending = json.loads(started[1]) if started else None
        actions, handle = self._actions, self._handle
        while pending:
            for rule_id, message in pending.items():
                break
            try:
                actions[rule_id](message)
                following = _engine.complete_and_start_action(handle, state)
            except BaseException:
                _engine.abandon_action(handle, state)
                raise
            pending = json.loads(following) if following else None

    def _clear_context(self, state: int) -> None:
        """After a refused assert no action ran: start one (the marker's at least is
        scheduled) and abandon it, which leaves the session's action context cleared."""
        if _engine.start_action_for_state(self._handle, state):
            _engine.abandon_action(self._handle, state)


def compile_problem(condition: dict) -> str | None:
    """Why durable_rules refuses to compile one rule's condition (it would fail every case), or None.
    Only for conditions within engine/limits.py's limits: beyond them compilation may never return."""
    try:
        handle = _engine.create_ruleset("bmdkb_trial", _dumps({"r": condition, "__sink__": SINK_RULE}))
    except Exception as exc:   # durable raises its own error type with the error code
        return f"durable_rules cannot compile this condition ({exc})"
    _engine.delete_ruleset(handle)
    return None
