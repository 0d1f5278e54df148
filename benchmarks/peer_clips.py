"""The peer: the shipped knowledge base's rules, translated to CLIPS 6.4 (clipspy), run on
the same facts the bmdkb engine receives.

The translation is mechanical, from the same parsed conditions the engine compiles
(engine/conditions.py), so the peer runs the same rules, not a hand-picked subset:
each fact type becomes a deftemplate (an absent field is the symbol ``nil``, and
every test but ``exists: false`` fails on it, as "unknown is not false" requires);
each rule becomes a defrule whose right-hand side records its firing and asserts
the derived fact or conclusion. It is tuned as the research notes describe: facts
go in through CLIPS's fact builder at the C level (clipspy's Fact objects leak),
firings are collected in one string read once per case, and ``reset`` clears the
facts between cases.

Only the rule stage is compared: schema checks, the DXA adapter and the result
document are bmdkb's own Python either way.
"""
from __future__ import annotations

from collections import Counter

import clips
from clips._clips import ffi, lib
from clips.common import environment_builder

from bmdkb.engine.kb.conditions import referenced_fields
# the engine's own translation of values, tests and slots: the peer differs only in keeping no trace
from bmdkb.engine.run.clips_runtime import condition as _test, literal as _literal, slots as _slots

RANK = {"considered": 0, "supported": 1}


def compile_kb(kb) -> list[str]:
    """CLIPS constructs for the knowledge base: deftemplates, one global, one defrule per rule."""
    slots = _slots(kb)
    constructs = ["(defglobal ?*fired* = \"\")"]
    for fact, fields in slots.items():
        constructs.append(f"(deftemplate {fact} " + " ".join(f"(slot {f} (default nil))" for f in fields) + ")")
    for n, rule in enumerate(kb.rules.values()):
        lhs, ids = [], []
        for k, pattern in enumerate(rule.patterns):
            used = ["id"] + sorted({t.field for t in referenced_fields(pattern.tests)} - {"id"})
            spec = rule.then.get("assert")
            if spec and spec.get("from") == pattern.alias:
                used += [f for f in spec.get("copy", []) if f not in used]

            def var(field, k=k):
                return f"?p{k}_{field}"

            parts = [f"({f} {var(f)})" for f in used]
            if pattern.tests:
                last = used[-1]
                condition = "(and TRUE " + " ".join(_test(t, var) for t in pattern.tests) + ")"
                parts[-1] = f"({last} {var(last)}&:{condition})"
            lhs.append(f"({pattern.fact} " + " ".join(parts) + ")")
            ids.append(var("id"))
        rhs = [f'(bind ?*fired* (str-cat ?*fired* "{rule.id} "))']
        if rule.concludes:
            rhs.append(f'(assert (conclusion (id "conclusion:{rule.concludes}") (code "{rule.concludes}") '
                       f'(kind "{rule.kind}")))')
        else:
            spec = rule.then["assert"]
            source = [k for k, p in enumerate(rule.patterns) if p.alias == spec.get("from")]
            fields = [f'(id (str-cat "{rule.id}(" ' + ' "+" '.join(ids) + ' ")"))']
            for f in spec.get("copy", []):
                fields.append(f"({f} ?p{source[0]}_{f})")
            for f, value in spec.get("set", {}).items():
                fields.append(f"({f} {_literal(value)})")
            rhs.append(f"(assert ({spec['type']} " + " ".join(fields) + "))")
        constructs.append(f"(defrule r{n} " + " ".join(lhs) + " => " + " ".join(rhs) + ")")
    return constructs


class ClipsPeer:
    """One CLIPS environment holding the compiled knowledge base, run one case at a time."""

    def __init__(self, kb):
        self.kb = kb
        self.env = clips.Environment()
        for construct in compile_kb(kb):
            self.env.build(construct)
        self._env = self.env._env
        self._builder = environment_builder(self._env, "fact")
        self._slots = {fact: set(fields) for fact, fields in _slots(kb).items()}
        self._fired = self.env.find_global("fired")
        self._support = {r.id: (r.concludes, r.support) for r in kb.rules.values()}
        self._value = ffi.new("CLIPSValue *")   # one reusable value cell: FBPutSlot copies it
        self._true, self._false = lib.CreateSymbol(self._env, b"TRUE"), lib.CreateSymbol(self._env, b"FALSE")

    def _assert(self, fact) -> None:
        wanted = self._slots.get(fact.type)
        if wanted is None:
            return
        builder, env, cell = self._builder, self._env, self._value
        lib.FBSetDeftemplate(builder, fact.type.encode())
        cell.value = lib.CreateString(env, fact.id.encode())
        lib.FBPutSlot(builder, b"id", cell)
        for key, value in fact.fields.items():
            if key not in wanted:
                continue
            if isinstance(value, bool):
                cell.value = self._true if value else self._false
            elif isinstance(value, int):
                cell.value = lib.CreateInteger(env, value)
            elif isinstance(value, float):
                cell.value = lib.CreateFloat(env, value)
            elif isinstance(value, str):
                cell.value = lib.CreateString(env, value.encode())
            else:
                continue
            lib.FBPutSlot(builder, key.encode(), cell)
        if lib.FBAssert(builder) == ffi.NULL and lib.FBError(self._env) != lib.FBE_NO_ERROR:
            raise RuntimeError(f"CLIPS refused fact {fact.id} ({fact.type})")

    def run(self, facts) -> tuple[dict, Counter]:
        """(code -> strongest support, Counter of fired rule ids) for one case's facts."""
        lib.Reset(self._env)
        for fact in facts:
            self._assert(fact)
        lib.Run(self._env, -1)
        fired = Counter(self._fired.value.split())
        concluded: dict = {}
        for rule_id in fired:
            code, support = self._support[rule_id]
            if code and (code not in concluded or RANK[support] > RANK[concluded[code]]):
                concluded[code] = support
        return concluded, fired
