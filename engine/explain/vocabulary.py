"""The fact vocabulary as the explainer needs it: the fields each fact type declares (with units
and input sources, from knowledge/fact-types.yaml, borrowed by rule-asserted types from the facts
they copy), the key fields that tell facts of one type apart, ratio fields and parameters."""
from __future__ import annotations

from bmdkb.engine import adapters
from bmdkb.engine.explain.domain_hints import placeholders
from bmdkb.engine.explain.model import Parameter


class Vocabulary:
    """Field declarations of the knowledge base's fact types, memoised per type."""

    def __init__(self, kb):
        self.kb = kb
        self._fields_memo = {}

    def type_fields(self, type_: str, _seen=()) -> dict:
        """Field declarations of a fact type; a rule-asserted type borrows those of the fields it copies."""
        if type_ in self._fields_memo:
            return self._fields_memo[type_]
        if type_ in self.kb.fact_types:
            out = dict(self.kb.fact_types[type_].get("fields", {}))
        else:
            out = {}
            for rule in self.kb.rules.values():
                spec = rule.then.get("assert")
                if not spec or spec["type"] != type_ or not spec.get("from") or type_ in _seen:
                    continue
                source = rule.pattern(spec["from"]).fact
                borrowed = self.type_fields(source, _seen + (type_,))
                for name in spec.get("copy", []):
                    if name in borrowed:
                        out.setdefault(name, borrowed[name])
        self._fields_memo[type_] = out
        return out

    def keys(self, type_: str, _seen=()) -> list[str]:
        """Fields that name which one of several facts this is: the placeholders of its input paths
        (``site`` in ``scans[i].sites.<site>.bmd_g_cm2``); a rule-asserted type keeps those it copies."""
        if type_ in self.kb.fact_types:
            fields = self.type_fields(type_)
            return [name for name in placeholders(fields) if name in fields]
        found = []
        for rule in self.kb.rules.values():
            spec = rule.then.get("assert")
            if spec and spec["type"] == type_ and spec.get("from") and type_ not in _seen:
                source = rule.pattern(spec["from"]).fact
                for name in self.keys(source, _seen + (type_,)):
                    if name in spec.get("copy", []) and name not in found:
                        found.append(name)
        return found

    def unit(self, type_: str, field: str) -> str:
        """The declared unit of a field ('' when it has none)."""
        return self.type_fields(type_).get(field, {}).get("unit", "")

    def description(self, type_: str, field: str) -> str:
        """The vocabulary's words for a field, or its name when it declares none."""
        return self.type_fields(type_).get(field, {}).get("description", field)

    def ratio(self, field: str, fact):
        """(numerator, denominator) field names when ``field`` is shown as a ratio on this fact."""
        ratio_fields = adapters.for_kb(self.kb).ratio_fields  # which fields are ratios is the adapter's to say
        if field not in ratio_fields:
            return None
        num, den = ratio_fields[field]
        declared = self.type_fields(fact.type)
        if num in declared and den in declared and (field in fact.fields or num in fact.fields):
            return num, den
        return None

    def parameter(self, test) -> Parameter | None:
        """The knowledge-base parameter a test's threshold comes from, or None for a literal."""
        ref = test.param
        if ref is None:
            return None
        entry = self.kb.parameters[ref.name]
        provenance = entry.get("provenance", {})
        if provenance.get("citations"):
            origin, owner = "cited", None
        elif provenance.get("local_policy"):
            origin, owner = "local_policy", provenance["local_policy"].get("owner")
        else:
            origin, owner = "not_stated", None
        return Parameter(ref.name, entry["value"], ref.times, entry.get("unit", ""), origin, owner)
