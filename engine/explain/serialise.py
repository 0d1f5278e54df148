"""The one serialiser: explanation model nodes to the JSON document of
schemas/explanation.schema.json (an output contract: keys, their order and every phrase stay as
published). The English in it (texts, labels, notes, input values) comes from wording.py here,
at serialisation time; the model itself holds none."""
from __future__ import annotations

from bmdkb.engine.explain import wording
from bmdkb.engine.explain.model import (AnyOutcome, ComputedNode, ConclusionNode, DerivedNode, Explanation,
                                        InputNode, WhyNot)

FORMAT_VERSION = 1


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


class Serialiser:
    """Model to JSON-ready dicts, worded by a wording.Wording."""

    def __init__(self, words: wording.Wording):
        self.words = words

    def document(self, doc: Explanation) -> dict:
        """The whole explanation document."""
        out = {"format": FORMAT_VERSION, "case_id": doc.case_id, "case_file": doc.case_file,
               "knowledge_base": dict(doc.knowledge_base), "code": doc.code, "asked": doc.asked,
               "fired": doc.fired}
        if doc.why is not None:
            out["why"] = self.conclusion(doc.why)
        if doc.why_not is not None:
            out["why_not"] = self.why_not(doc.why_not)
        if doc.why_not is not None:
            out["note"] = wording.note(doc.code, doc.fired)
        return out

    # -- provenance ---------------------------------------------------------------------------------
    def rule(self, info) -> dict:
        """A rule's identity and status."""
        out = {"id": info.id, "version": info.version, "title": info.title, "file": info.file,
               "digest": info.digest, "status": info.status}
        for key in ("caution", "status_label", "approvals"):
            if getattr(info, key) is not None:
                out[key] = getattr(info, key)
        return out

    def citation(self, c) -> dict:
        """A quote, whether it was verified, and its references."""
        out = {"source": c.source, "title": c.title, "section": c.section, "quote": c.quote,
               "verified": c.verified, "references": [self.reference(r) for r in c.references]}
        if c.problem:
            out["problem"] = f"{c.problem[0]}: {c.problem[1]}"
        return out

    def reference(self, r) -> dict:
        """A numbered reference: its record and citation line, or why it is unresolved."""
        if r.resolved:
            out = {"number": r.number, "status": "resolved", "record": r.record,
                   "citation": wording.reference_text(r.record)}
            if r.verification is not None:
                out["verification"] = wording.flat(r.verification)
            return out
        reason = wording.UNREGISTERED if not r.registered else \
            wording.flat(wording.NO_REASON if r.reason is None else r.reason)
        return {"number": r.number, "status": "unresolved", "reason": reason}

    # -- conditions ---------------------------------------------------------------------------------
    def tests(self, outcomes: list) -> list[dict]:
        """Each test: field, operator, expected and actual value, outcome and the sentence for it."""
        out = []
        for o in outcomes:
            if isinstance(o, AnyOutcome):
                out.append({"any": [{"state": g.state, "tests": self.tests(g.tests)} for g in o.groups],
                            "state": o.state, "text": wording.ANY_TEXT})
                continue
            node = {"field": o.test.field, "op": o.test.op, "expected": _json_value(o.test.value),
                    "state": o.state, "text": self.words.test_text(o)}
            if o.actual is not None:
                node["actual"] = o.actual
            if o.parameter:
                p = o.parameter
                node["parameter"] = {"name": p.name, "value": p.value, "times": p.times, "unit": p.unit,
                                     "provenance": wording.parameter_origin(p)}
            if o.unit:
                node["unit"] = o.unit
            if o.settling is not None:
                node["missing"] = {"field": o.test.field, "inputs": o.settling}
            out.append(node)
        return out

    # -- why ----------------------------------------------------------------------------------------
    def conclusion(self, n: ConclusionNode) -> dict:
        """A conclusion node and everything under it."""
        out = {"node": "conclusion", "code": n.code, "kind": n.kind, "support": n.support,
               "statement": dict(n.statement), "rule": self.rule(n.rule),
               "matches": [self.match(m) for m in n.matches], "citations": [self.citation(c) for c in n.citations]}
        if n.details:
            out["details"] = list(n.details)
        return out

    def match(self, m) -> dict:
        """One match: its conditions."""
        return {"conditions": [{"alias": c.alias, "fact_type": c.fact_type, "fact": c.fact.id,
                                "label": self.words.label(c.fact), "state": c.state, "tests": self.tests(c.tests),
                                "basis": self.basis(c.basis)} for c in m.conditions]}

    def basis(self, n) -> dict:
        """Where a fact came from: a conclusion, a derived, computed or input fact."""
        if isinstance(n, ConclusionNode):
            return self.conclusion(n)
        fact = n.fact
        head = {"fact": fact.id, "type": fact.type, "label": self.words.label(fact)}
        if isinstance(n, DerivedNode):
            return {"node": "derived", **head, "fields": self._fields(fact), "rule": self.rule(n.rule),
                    "match": self.match(n.match), "citations": [self.citation(c) for c in n.citations]}
        if isinstance(n, ComputedNode):
            return {"node": "computed", **head, "fields": self._fields(fact),
                    "from": [self.basis(s) for s in n.sources]}
        assert isinstance(n, InputNode)
        return {"node": "input", **head, "inputs": [self._input(fact, e) for e in n.inputs]}

    @staticmethod
    def _fields(fact) -> dict:
        return {k: v for k, v in fact.fields.items() if _scalar(v)}

    def _input(self, fact, e) -> dict:
        if not e.recorded:
            return {"field": e.field, "path": e.path, "recorded": False}
        out = {"field": e.field, "path": e.path, "value": e.value, "recorded": True, "shown": wording.shown(e)}
        if e.differs:
            out["read_as"] = self.words.read_as(fact, e)
        return out

    # -- why not ------------------------------------------------------------------------------------
    def why_not(self, w: WhyNot) -> dict:
        """The why-not part of a document."""
        return {"code": w.code, "fired": w.fired, "rules": [self.attempt(a) for a in w.rules]}

    def attempt(self, a) -> dict:
        """A rule's attempt and its patterns."""
        out = {"rule": self.rule(a.rule)}
        if a.concludes:
            out.update(concludes=a.concludes, support=a.support)
        if a.asserts:
            out["asserts"] = a.asserts
        out.update(fired=a.fired, state=a.state)
        if a.repeat:
            out["repeat"] = True
        out["patterns"] = [self.pattern(p) for p in a.patterns]
        return out

    def pattern(self, p) -> dict:
        """A pattern's attempt: matched, or its candidates, absence and producers."""
        out = {"alias": p.alias, "fact_type": p.fact_type, "state": p.state}
        if p.later_needs is not None:
            out["required_by_later_rule"] = [self.words.requirement(t, p.fact_type) for t in p.later_needs]
        if p.matched is not None:
            out["matched"] = {"fact": p.matched.fact.id, "label": self.words.label(p.matched.fact)}
            out["tests"] = self.tests(p.matched.tests)
            return out
        out["candidates"] = [{"fact": c.fact.id, "label": self.words.label(c.fact), "state": c.state,
                              "tests": self.tests(c.tests)} for c in p.candidates]
        if p.missing is not None:
            out["missing"] = {"text": self.words.absence(p.missing)}
            if p.missing.inputs is not None:
                out["missing"]["inputs"] = p.missing.inputs
        if p.truncated:
            out["truncated"] = True
        if p.producers is not None:
            out["producers"] = [self.attempt(a) for a in p.producers]
        return out
