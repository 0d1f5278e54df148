"""The only module that touches CLIPS (clipspy): the second rule engine.

It runs the same compiled knowledge base as runtime.py (the same parsed conditions,
the same priorities, the same actions) on CLIPS 6.4 and returns the same firings, so
either engine can drive ``evaluate``, ``batch`` and ``test``, and each checks the other.

The translation is mechanical. Each fact type becomes a deftemplate whose slots are
the fields some rule tests, copies or sets (an absent field is the symbol ``nil``, on
which every test but ``exists: false`` fails, as durable_rules does: unknown is not
false). Each rule becomes a defrule whose salience orders the agenda as durable_rules
does (lower ``pri`` first, then the rule's place in the knowledge base; among one rule's
activations the one with the most recent facts first: CLIPS's LEX strategy). Its right-hand side asserts
the derived fact or conclusion (ids built as runtime.py's actions build them, so CLIPS
refuses the same duplicates) and appends the rule number and the fact indices it matched
(and the index of the fact it added) to one string, read once per case. Python then replays that record through the same
action code runtime.py uses, which gives the Firing list and the asserted Facts.

Tuned as the research notes say: facts go in through CLIPS's fact builder at the C
level (clipspy's Fact objects leak), the firing record is one string read once,
and ``Reset`` clears the facts between cases.
"""
from __future__ import annotations

import clips
from clips._clips import ffi, lib
from clips.common import environment_builder

from bmdkb.engine.common.errors import Problem, RuleActionError
from bmdkb.engine.kb.conditions import AnyOf, referenced_fields
from bmdkb.engine.run.facts import Fact
from bmdkb.engine.run.relevance import Relevance
from bmdkb.engine.run.actions import Firing, producer as _producer

_INT64 = (-(2**63), 2**63 - 1)   # durable saturates larger integers (strtoll); so does this hand-over


def literal(value) -> str:
    """A Python value as a CLIPS literal (integers saturated as durable_rules saturates them)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return repr(min(max(value, _INT64[0]), _INT64[1]))
    if isinstance(value, float):
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _equal(var: str, value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"(and (numberp {var}) (= {var} {literal(value)}))"
    return f"(eq {var} {literal(value)})"


def condition(test, var) -> str:
    """A rule test (or any-of group) as a CLIPS expression over the variables ``var(field)`` names."""
    if isinstance(test, AnyOf):
        return "(or " + " ".join("(and TRUE " + " ".join(condition(t, var) for t in group) + ")"
                                 for group in test.groups) + ")"
    v = var(test.field)
    if test.op == "exists":
        return f"(neq {v} nil)" if test.value else f"(eq {v} nil)"
    if test.op == "eq":
        return _equal(v, test.value)
    if test.op == "ne":
        return f"(and (neq {v} nil) (not {_equal(v, test.value)}))"
    if test.op == "in":
        return "(or FALSE " + " ".join(_equal(v, x) for x in test.value) + ")"
    symbol = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[test.op]
    if isinstance(test.value, str):   # strings compare by code point (durable compares them with strcmp)
        return f"(and (stringp {v}) ({symbol} (str-compare {v} {literal(test.value)}) 0))"
    if isinstance(test.value, bool) or not isinstance(test.value, (int, float)):
        return "FALSE"
    return f"(and (numberp {v}) ({symbol} {v} {literal(test.value)}))"


def template(fact_type: str) -> str:
    """The deftemplate of a fact type: prefixed, so no type name (``not``, ``test``, ``or``...)
    is taken for one of CLIPS's own words."""
    return f"bmdkb-{fact_type}"


def slots(kb) -> dict[str, list[str]]:
    """Fact type -> the fields any rule tests, copies or sets (plus id), in a stable order."""
    out: dict = {}
    for rule in kb.rules.values():
        for pattern in rule.patterns:
            out.setdefault(pattern.fact, {"id"}).update(t.field for t in referenced_fields(pattern.tests))
        spec = rule.then.assertion
        if spec is not None:
            out.setdefault(spec.type, {"id"}).update(spec.copy, spec.constants)
            source = next((p for p in rule.patterns if p.alias == spec.source), None)
            if source is not None:
                out.setdefault(source.fact, {"id"}).update(spec.copy)
    out.setdefault("conclusion", {"id"}).update({"code", "kind"})
    return {fact: sorted(fields) for fact, fields in out.items()}


def agenda_order(kb) -> list[str]:
    """Rule ids in the order the engine prefers them (durable's ``pri``, then knowledge-base order)."""
    position = {rule_id: n for n, rule_id in enumerate(kb.rules)}
    return sorted(kb.rules, key=lambda r: (kb.stage_index(kb.rules[r].kind) + 1, position[r]))


_SORTED_IDS = """(deffunction bmdkb-sorted-ids ($?ids)
  (bind ?sorted (sort bmdkb-after $?ids))
  (bind ?out (nth$ 1 ?sorted))
  (loop-for-count (?i 2 (length$ ?sorted)) (bind ?out (str-cat ?out "+" (nth$ ?i ?sorted))))
  ?out)"""


def compile_kb(kb) -> list[str]:
    """CLIPS constructs for the knowledge base: deftemplates, the firing record, one defrule per rule."""
    fields_of = slots(kb)
    constructs = ['(defglobal ?*fired* = "")',
                  "(deffunction bmdkb-after (?a ?b) (> (str-compare ?a ?b) 0))", _SORTED_IDS]
    for fact, fields in fields_of.items():
        constructs.append(f"(deftemplate {template(fact)} " + " ".join(f"(slot {f} (default nil))" for f in fields) + ")")
    order = agenda_order(kb)
    for n, rule_id in enumerate(order):
        rule = kb.rules[rule_id]
        lhs, ids, addresses = [], [], []
        spec = rule.then.assertion
        for k, pattern in enumerate(rule.patterns):
            used = ["id"] + sorted({t.field for t in referenced_fields(pattern.tests)} - {"id"})
            if spec is not None and spec.source == pattern.alias:
                used += [f for f in spec.copy if f not in used]

            def var(field, k=k):
                return f"?p{k}_{field}"

            parts = [f"({f} {var(f)})" for f in used]
            if pattern.tests:
                tests = "(and TRUE " + " ".join(condition(t, var) for t in pattern.tests) + ")"
                parts[-1] = f"({used[-1]} {var(used[-1])}&:{tests})"
            lhs.append(f"?f{k} <- ({template(pattern.fact)} " + " ".join(parts) + ")")
            ids.append(var("id"))
            addresses.append(f"(fact-index ?f{k})")
        if rule.concludes:
            new = (f'(assert ({template("conclusion")} (id "conclusion:{rule.concludes}") (code {literal(rule.concludes)}) '
                   f'(kind {literal(rule.kind)})))')
        else:
            source = next(k for k, p in enumerate(rule.patterns) if p.alias == spec.source) \
                if spec.source else None
            joined = ids[0] if len(ids) == 1 else f'(bmdkb-sorted-ids {" ".join(ids)})'   # one id needs no sort
            fields = [f'(id (str-cat {literal(rule.id + "(")} {joined} ")"))']
            fields += [f"({f} ?p{source}_{f})" for f in spec.copy if source is not None]
            fields += [f"({f} {literal(value)})" for f, value in spec.constants.items()]
            new = f"(assert ({template(spec.type)} " + " ".join(fields) + "))"
        rhs = (f"(bind ?new {new}) (bind ?*fired* (str-cat ?*fired* {n} \" \" "
               + " ".join(f'{a} " "' for a in addresses)
               + ' (if (fact-addressp ?new) then (fact-index ?new) else 0) " "))')
        constructs.append(f"(defrule r{n} (declare (salience {10000 - n})) " + " ".join(lhs) + " => " + rhs + ")")
    return constructs


def _value(lib_, env, true, false, value):
    """A CLIPS value for a scalar of a subclass of str, bool, int or float (the generated fast path
    handles the exact types); None for anything else."""
    if isinstance(value, bool):
        return true if value else false
    if isinstance(value, str):
        return lib_.CreateString(env, str(value).encode())
    if isinstance(value, float):
        return lib_.CreateFloat(env, float(value))
    if isinstance(value, int):
        return lib_.CreateInteger(env, min(max(int(value), _INT64[0]), _INT64[1]))
    return None


def _putter(fact_type: str, fields: list, namespace: dict):
    """One function per fact type: engine record -> its fields put into the fact builder, asserted.
    Generated so each slot costs one lookup and one call (the slot names are literals)."""
    lines = ["def put(view):", f"    FBSetDeftemplate(builder, {template(fact_type).encode()!r})"]
    for name in fields:
        lines += [f"    v = view.get({name!r})",
                  "    if v is not None:",
                  "        t = type(v)",
                  "        if t is str:",
                  "            cell.value = CreateString(env, v.encode())",
                  "        elif t is float:",
                  "            cell.value = CreateFloat(env, v)",
                  "        elif t is bool:",
                  "            cell.value = TRUE if v else FALSE",
                  "        elif t is int and LOW <= v <= HIGH:",
                  "            cell.value = CreateInteger(env, v)",
                  "        else:",
                  "            v = value(lib, env, TRUE, FALSE, v)",
                  "            if v is not None:",
                  "                cell.value = v",
                  "        if v is not None:",
                  f"            FBPutSlot(builder, {name.encode()!r}, cell)"]
    lines.append("    return FBAssert(builder)")
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from slot names, literals via repr
    return namespace.pop("put")


_ERROR_ROUTER = b"python-error-router"   # clipspy's: a Python call for every piece of text CLIPS writes


def _build(env, constructs: list[str]) -> None:
    """Build the constructs with clipspy's error router switched off (parsing through it is about
    thirteen times slower: 0.2 s per cold start); a construct CLIPS refuses is built again with the
    router on, so the error says why."""
    lib.DeactivateRouter(env._env, _ERROR_ROUTER)
    try:
        for construct in constructs:
            try:
                env.build(construct)
            except clips.CLIPSError:
                lib.ActivateRouter(env._env, _ERROR_ROUTER)
                env.build(construct)   # raises with CLIPS's message
                raise
    finally:
        lib.ActivateRouter(env._env, _ERROR_ROUTER)


class ClipsRuntime:
    """Compiled knowledge base on CLIPS, run one case at a time; ``run`` is runtime.Runtime's."""

    def __init__(self, kb):
        self._kb = kb
        self._env_object = clips.Environment()
        _build(self._env_object, compile_kb(kb))
        self._env_object.strategy = clips.Strategy.LEX
        self._env = self._env_object._env
        self._builder = environment_builder(self._env, "fact")
        self._cell = ffi.new("CLIPSValue *")   # one reusable value cell: FBPutSlot copies it
        true, false = lib.CreateSymbol(self._env, b"TRUE"), lib.CreateSymbol(self._env, b"FALSE")
        namespace = {"FBSetDeftemplate": lib.FBSetDeftemplate, "FBPutSlot": lib.FBPutSlot, "FBAssert": lib.FBAssert,
                     "CreateString": lib.CreateString, "CreateFloat": lib.CreateFloat,
                     "CreateInteger": lib.CreateInteger, "builder": self._builder, "env": self._env,
                     "cell": self._cell, "TRUE": true, "FALSE": false, "LOW": _INT64[0], "HIGH": _INT64[1],
                     "value": _value, "lib": lib}
        self._put = {fact: _putter(fact, fields, namespace) for fact, fields in slots(kb).items()}
        self._fired = self._env_object.find_global("fired")
        order = agenda_order(kb)
        self._rules = [(kb.rules[r], [p.alias for p in kb.rules[r].patterns], _producer(kb.rules[r])) for r in order]
        self._could_match = Relevance(kb).could_match

    def _assert(self, view: dict) -> int:
        """Put one engine record into CLIPS; its fact index, 0 for a duplicate."""
        fact = self._put[view["type"]](view)
        if fact == ffi.NULL:
            if lib.FBError(self._env) != lib.FBE_NO_ERROR:
                raise RuleActionError(Problem("", "", f"CLIPS refused fact {view['id']} ({view['type']})"))
            return 0
        return lib.FactIndex(fact)

    def run(self, facts: list[Fact]) -> tuple[list[Firing], list[Fact]]:
        """Assert one case's facts, let the rules chain, return firings and rule-asserted facts."""
        env = self._env
        lib.Reset(env)
        views, ids = {}, {f.id for f in facts}
        wanted, could_match = self._put, self._could_match
        for fact in facts:
            if fact.type in wanted:
                view = fact.engine_view()
                if could_match(view):
                    index = self._assert(view)
                    if index:
                        views[index] = view
        lib.Run(env, -1)
        record = [int(n) for n in self._fired.value.split()]
        firings, asserted = [], []
        rules, position, end = self._rules, 0, len(record)
        try:
            while position < end:
                rule, aliases, produce = rules[record[position]]
                count = len(aliases)
                matched = {alias: views[record[position + 1 + k]] for k, alias in enumerate(aliases)}
                new_index = record[position + 1 + count]
                position += count + 2
                firings.append(Firing(rule.id, matched))
                fact = produce(matched)
                if fact is None:
                    continue
                if fact.id not in ids:
                    ids.add(fact.id)
                    asserted.append(fact)
                if new_index and new_index not in views:
                    views[new_index] = fact.engine_view()
        except Exception as exc:  # a fault while replaying an action: reported with the rule, as runtime.py does
            raise RuleActionError(Problem(rule.file, "", f"rule {rule.id} failed while running: "
                                                         f"{type(exc).__name__}: {exc}")) from None
        return firings, asserted
