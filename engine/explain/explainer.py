"""Explanations as plain data: why a conclusion was drawn, why another was not,
down to the input fields and the source sentence.

Everything here is read back from an Evaluation (facts, firings, rule-asserted
facts) and the rules' own conditions, re-evaluated with conditions.py, so the
explanation and the engine read one definition. Field names, units and input
paths come from the knowledge base's fact types, not from code. The renderers
in cli/explain_render.py turn these documents into text and Markdown.
"""
from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

from bmdkb.engine.review import governance
from bmdkb.engine.kb.conditions import (FALSE, SYMBOL, TRUE, UNKNOWN, AnyOf, combine_all, combine_any, evaluate, evaluate_test,
                         referenced_fields)
from bmdkb.engine.common import fieldpath
from bmdkb.engine.common.errors import BmdkbError, Problem
from bmdkb.engine.kb import citations as kb_citations
from bmdkb.engine.run.results import SUPPORT_RANK

FORMAT_VERSION = 1
MAX_DEPTH = 4         # how far why-not follows facts that were never produced
MAX_CANDIDATES = 3    # near-miss facts shown per condition

# --- display of values in the case's own units --------------------------------------------------
# A field holding a ratio is shown as the comparison of its numerator with threshold x denominator,
# in the numerator's unit (a change in LSC is shown in g/cm2 against the LSC in g/cm2). The field
# names are checked against fact-types.yaml before use; nothing else in this module names a field.
RATIO_FIELDS = {"change_in_lsc": ("delta_g_cm2", "lsc_g_cm2")}
# Decimals a unit is reported to (DXA reports BMD to 0.001 g/cm2); other numbers get up to 2.
UNIT_DECIMALS = {"g/cm2": 3}


class UnknownCodeError(BmdkbError):
    """A conclusion code the knowledge base does not define (exit 2)."""

    def __str__(self) -> str:  # about the command's argument, not about a file
        return "\n".join(p.message for p in self.problems)


class NotConcludedError(BmdkbError):
    """`why` asked for a conclusion the case did not produce (exit 2)."""


def check_code(kb, code: str) -> None:
    if code not in kb.codes():
        known = ", ".join(kb.codes())
        raise UnknownCodeError(Problem("", "", f"unknown conclusion code {code!r}; known codes: {known}"))


def why(kb, evaluation, code: str, statuses=None) -> dict:
    """The derivation tree of a conclusion the case produced."""
    check_code(kb, code)
    ex = _Explainer(kb, evaluation, statuses)
    if not ex.fired(code):
        raise NotConcludedError(Problem(evaluation.file, "", f"{code} was not concluded for case "
                                        f"{evaluation.case['case_id']}; ask why not instead"))
    return ex.conclusion_node(code, ())


def why_not(kb, evaluation, code: str, statuses=None) -> dict:
    """Every rule that could conclude ``code``, and each of its conditions: satisfied,
    not satisfied (value against threshold) or unknown (and which input would settle it).
    For a code that fired, the rules with stronger support that did not fire."""
    check_code(kb, code)
    return _Explainer(kb, evaluation, statuses).why_not(code)


def explain(kb, evaluation, code: str, why_not: bool = False, statuses=None) -> dict:
    """The explanation document (schemas/explanation.schema.json).

    A code that fired gets its why; asked why not, the document says it fired and
    adds why stronger rules for the same code did not. A code that did not fire
    gets its why-not whichever was asked."""
    check_code(kb, code)
    ex = _Explainer(kb, evaluation, statuses)
    fired = ex.fired(code)
    result = evaluation.result
    doc = {
        "format": FORMAT_VERSION,
        "case_id": result["case_id"],
        "case_file": evaluation.file,
        "knowledge_base": dict(result["knowledge_base"]),
        "code": code,
        "asked": "why-not" if why_not else "why",
        "fired": fired,
    }
    if fired:
        doc["why"] = ex.conclusion_node(code, ())
        if why_not:
            doc["why_not"] = ex.why_not(code)
            doc["note"] = f"{code} was concluded for this case, so here is why it was."
    else:
        doc["why_not"] = ex.why_not(code)
        doc["note"] = f"{code} was not concluded for this case."
    return doc


def short_why(kb, evaluation, code: str) -> str:
    """One line: the rule that drew the conclusion and the facts it matched."""
    ex = _Explainer(kb, evaluation)
    rule = ex.winning_rule(code)
    firings = ex.firings[rule.id]
    parts = []
    for pattern in rule.patterns:
        fact = ex.facts[firings[0].matched[pattern.alias]["id"]]
        if fact.type == "conclusion":
            parts.append(fact.fields["code"])
            continue
        values = []
        for test in referenced_fields(pattern.tests):
            if fact.fields.get(test.field) is not None:
                values.append(ex.compact_value(test.field, fact))
            else:
                values.append(f"{test.field} not recorded")
        parts.append(f"{ex.label(fact)} ({', '.join(dict.fromkeys(values))})" if values else ex.label(fact))
    line = f"rule {rule.id} v{rule.version} matched " + "; ".join(parts)
    if len(firings) > 1:
        line += f" (and {len(firings) - 1} more match{'es' if len(firings) > 2 else ''})"
    return line


# --- the explainer --------------------------------------------------------------------------------

def _words(value) -> str:
    return str(value).replace("_", " ")


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


class _Explainer:
    def __init__(self, kb, evaluation, statuses=None):
        self.kb = kb
        self.ev = evaluation
        self._statuses = statuses
        self.facts = {f.id: f for f in evaluation.facts}
        self.facts.update({f.id: f for f in evaluation.asserted})
        self.by_type = defaultdict(list)
        for fact in self.facts.values():
            self.by_type[fact.type].append(fact)
        self.firings = defaultdict(list)
        for firing in evaluation.firings:
            self.firings[firing.rule].append(firing)
        self.conclusions = {c["code"]: c for c in evaluation.result["conclusions"]}
        self._fields_memo = {}
        self._shown = {}  # why-not attempts already written out in this document -> their state

    @property
    def statuses(self) -> dict:
        """Editorial status per rule, read from the review ledger only when first needed."""
        if self._statuses is None:
            self._statuses = governance.statuses(self.kb)
        return self._statuses

    # -- what fired ---------------------------------------------------------------------------------
    def why_not(self, code: str) -> dict:
        fired = self.fired(code)
        rules = self.kb.rules_concluding(code)
        if fired:  # only stronger rules that did not fire are news
            rank = SUPPORT_RANK[self.winning_rule(code).support]
            rules = [r for r in rules if SUPPORT_RANK[r.support] > rank and not self.firings[r.id]]
        return {"code": code, "fired": fired, "rules": [self.attempt(r, (), 0) for r in rules]}

    def fired(self, code: str) -> bool:
        return any(self.firings[r.id] for r in self.kb.rules_concluding(code))

    def winning_rule(self, code: str):
        """The rule the result names for ``code``; else the strongest one that fired."""
        if code in self.conclusions:
            return self.kb.rules[self.conclusions[code]["rule"]["id"]]
        fired = [r for r in self.kb.rules_concluding(code) if self.firings[r.id]]
        if not fired:
            raise NotConcludedError(Problem(self.ev.file, "", f"{code} was not concluded"))
        return max(fired, key=lambda r: SUPPORT_RANK[r.support])

    # -- the vocabulary -----------------------------------------------------------------------------
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
            return [name for name in _placeholders(fields) if name in fields]
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
        return self.type_fields(type_).get(field, {}).get("unit", "")

    def label(self, fact) -> str:
        if fact.type == "conclusion":
            return f"conclusion {fact.fields['code']}"
        ident = [_words(fact.fields[k]) for k in self.keys(fact.type) if k in fact.fields]
        label = fact.fields.get("label")
        if isinstance(label, str):  # the knowledge base's own short phrase, unless it repeats the key
            return f"{_words(fact.type)}: {label}" if " ".join(ident) in label else \
                f"{' '.join(ident + [_words(fact.type)])}: {label}"
        return " ".join(ident + [_words(fact.type)])

    # -- numbers and tests in words -----------------------------------------------------------------
    def parameter(self, test) -> dict | None:
        ref = test.param
        if ref is None:
            return None
        entry = self.kb.parameters[ref.name]
        provenance = entry.get("provenance", {})
        if provenance.get("citations"):
            origin = "cited"
        elif provenance.get("local_policy"):
            origin = f"local policy ({provenance['local_policy'].get('owner', 'owner not named')})"
        else:
            origin = "not stated"
        out = {"name": ref.name, "value": entry["value"], "times": ref.times, "unit": entry.get("unit", ""),
               "provenance": origin}
        return out

    def ratio(self, field: str, fact):
        """(numerator, denominator) field names when ``field`` is shown as a ratio on this fact."""
        if field not in RATIO_FIELDS:
            return None
        num, den = RATIO_FIELDS[field]
        declared = self.type_fields(fact.type)
        if num in declared and den in declared and (field in fact.fields or num in fact.fields):
            return num, den
        return None

    def requirement(self, test) -> str:
        """A test as the rule states it, without any fact."""
        if test.op == "exists":
            return f"{test.field} {'is recorded' if test.value else 'is not recorded'}"
        if test.op == "in":
            return f"{test.field} {SYMBOL['in']} {_value_text(test.value)}"
        param = self.parameter(test)
        return f"{test.field} {SYMBOL[test.op]} {format_number(test.value, param['unit'] if param else '')}"

    def test_text(self, test, fact, state: str) -> str:
        if fact is None:
            return self.requirement(test)
        fields = fact.fields
        type_ = fact.type
        field, op = test.field, test.op
        present = fields.get(field) is not None
        if op == "exists":
            wanted = "is recorded" if test.value else "is not recorded"
            text = f"{field} {wanted}"
            if present and not test.value:
                text += f" (it is recorded: {format_number(fields[field], self.unit(type_, field))})"
            return text
        param = self.parameter(test)
        unit = self.unit(type_, field) or (param["unit"] if param else "")
        if op in ("eq", "ne", "in"):
            text = f"{field} {SYMBOL[op]} {_value_text(test.value)}"
            if not present:
                return text + " (not recorded)"
            if state == FALSE:
                text += f" (it is {format_number(fields[field], unit)})"
            return text
        symbol = SYMBOL[op]
        param_note = ""
        if param:
            times = "" if param["times"] == 1 else f" × {format_number(param['times'])}"
            policy = ", local policy" if param["provenance"].startswith("local policy") else ""
            param_note = f"; parameter {param['name']}{times}{policy}"
        ratio = self.ratio(field, fact)
        if ratio:
            num, den = ratio
            declared = self.type_fields(type_)
            num_unit = self.unit(type_, num)
            subject = " ".join([_words(fields[k]) for k in self.keys(type_) if k in fields]
                               + [declared[num].get("description", num)])
            wanted = format_number(test.value, unit, signed=True)
            if fields.get(num) is not None and fields.get(den) is None:
                return (f"{subject} {format_number(fields[num], num_unit, signed=True)} {symbol} {wanted}"
                        f" ({declared[den].get('description', den)} not recorded){param_note}")
        if ratio and present:
            limit = float(Decimal(repr(test.value)) * Decimal(repr(fields[den])))
            actual, threshold = format_pair(fields[num], limit, num_unit, signed=True)
            return (f"{subject} {actual} {symbol} {wanted} = {threshold}"
                    f" ({format_number(fields[field], unit, signed=True)}){param_note}")
        if not present:
            return f"{field} {symbol} {format_number(test.value, unit)} (not recorded){param_note}"
        actual, threshold = format_pair(fields[field], test.value, unit)
        return f"{field} {actual} {symbol} {threshold}{param_note}"

    def compact_value(self, field: str, fact) -> str:
        value = fact.fields[field]
        ratio = self.ratio(field, fact)
        unit = self.unit(fact.type, field)
        if ratio:
            num = ratio[0]
            return (f"{format_number(fact.fields[num], self.unit(fact.type, num), signed=True)}"
                    f" = {format_number(value, unit, signed=True)}")
        return f"{field} {format_number(value, unit)}"

    # -- where a value comes from in the input --------------------------------------------------------
    def settling_paths(self, fact, field: str, hints: dict | None = None) -> list[str]:
        """Input paths that would settle an unrecorded ``field`` of ``fact`` (or of a fact not present,
        whose key fields are in ``hints``)."""
        fields = self.type_fields(fact.type if fact is not None else hints["__type__"])
        known = dict(hints or {})
        if fact is not None:
            known.update(fact.fields)
        templates = []
        if fields.get(field, {}).get("source"):
            templates.append(fields[field]["source"])
        else:  # a computed field: the missing inputs it is computed from
            for name, spec in fields.items():
                if spec.get("source") and known.get(name) is None and name not in _placeholders(fields):
                    templates.append(spec["source"])
        indexes = self.input_positions(fact)
        paths = []
        for template in dict.fromkeys(templates):
            for path in self.instantiate(template, known, indexes):
                if path not in paths:
                    paths.append(path)
        paths = [p for p in paths if not re.search(r"<\w+>", p)]  # which one is not known: say nothing
        unrecorded = [p for p in paths if not _recorded(self.ev.case, p)]
        return unrecorded or paths

    def input_positions(self, fact) -> list[str]:
        """The input positions (``[1]``) of the fact's own paths, or of the facts it came from."""
        if fact is None:
            return []
        seen, found, todo = set(), [], [fact]
        while todo:
            current = todo.pop(0)
            if current.id in seen:
                continue
            seen.add(current.id)
            for path in current.paths.values():
                for index in re.findall(r"\[(\d+)\]", path):
                    if index not in found:
                        found.append(index)
            todo += [self.facts[i] for i in current.derived_from if i in self.facts]
        return found

    def instantiate(self, template: str, known: dict, indexes: list[str]) -> list[str]:
        """Input paths from a fact-types ``source`` template: ``<site>`` from the fact's fields, ``[i]``
        from the positions the fact came from or, with none, every position up to one past the list."""
        def fill(match):
            value = known.get(match.group(1))
            return str(value) if isinstance(value, str) else match.group(0)

        path = re.sub(r"<(\w+)>", fill, template)
        if "[i]" not in path:
            return [path]
        if not indexes:
            listed = self.ev.case.get(path.split("[i]")[0], [])
            indexes = [str(i) for i in range(len(listed) + 1)] if isinstance(listed, list) else ["0"]
        return [path.replace("[i]", f"[{i}]") for i in indexes]

    # -- why ------------------------------------------------------------------------------------------
    def rule_info(self, rule, conclusion: dict | None = None) -> dict:
        status = self.statuses.get(rule.id)
        info = {"id": rule.id, "version": rule.version, "title": rule.title, "file": rule.file,
                "digest": rule.digest, "status": status.status if status else "unknown"}
        caution = (conclusion or {}).get("caution")
        if caution is None and status is not None and not status.approved:
            caution = status.caution or governance.PENDING
        if caution:
            info["caution"] = caution
        detail = (status.detail or {}) if status is not None else {}
        if isinstance(detail.get("label"), str) and detail["label"] != info["status"]:
            info["status_label"] = detail["label"]
        approvals = [a for a in detail.get("approvals") or [] if isinstance(a, dict) and a.get("by")]
        if approvals:  # who approved (or, under review, has approved so far) and when
            info["approvals"] = [{k: str(a[k]) for k in ("by", "time", "review_by") if a.get(k)} for a in approvals]
        return info

    def citations(self, rule) -> list[dict]:
        out = []
        for citation in rule.citations:
            source = self.kb.sources.get(citation.source)
            node = {"source": citation.source, "title": source.meta.get("title", citation.source) if source else
                    citation.source, "section": citation.section, "quote": citation.quote,
                    "verified": kb_citations.quote_found(self.kb, citation),
                    "references": [self.reference(n) for n in citation.references]}
            problem = kb_citations.first_failure(self.kb, citation)
            if problem:
                node["problem"] = f"{problem.field}: {problem.message}"
            out.append(node)
        return out

    def reference(self, number: int) -> dict:
        entry = self.kb.references.get(number)
        if entry is None:
            return {"number": number, "status": "unresolved", "reason": "not registered in provenance/references.yaml"}
        if entry.get("status") == "resolved" and entry.get("record"):
            node = {"number": number, "status": "resolved", "record": entry["record"],
                    "citation": _reference_text(entry["record"])}
            if entry.get("verification"):
                node["verification"] = " ".join(str(entry["verification"]).split())
            return node
        return {"number": number, "status": "unresolved",
                "reason": " ".join(str(entry.get("reason", "no reason recorded")).split())}

    def conclusion_node(self, code: str, stack: tuple) -> dict:
        if code in stack:  # rules are monotonic and staged, so a cycle means a broken knowledge base
            raise RuntimeError(f"conclusion {code} rests on itself: {' -> '.join(stack + (code,))}")
        rule = self.winning_rule(code)
        conclusion = self.conclusions.get(code, {})
        node = {"node": "conclusion", "code": code, "kind": rule.kind, "support": rule.support,
                "statement": {"clinician": rule.statement["clinician"],
                              "patient": rule.statement.get("patient", "")},
                "rule": self.rule_info(rule, conclusion),
                "matches": [self.match(rule, f, stack + (code,)) for f in self.firings[rule.id]],
                "citations": self.citations(rule)}
        if conclusion.get("details"):
            node["details"] = list(conclusion["details"])
        return node

    def match(self, rule, firing, stack: tuple) -> dict:
        conditions = []
        for pattern in rule.patterns:
            fact = self.facts[firing.matched[pattern.alias]["id"]]
            conditions.append({"alias": pattern.alias, "fact_type": pattern.fact, "fact": fact.id,
                               "label": self.label(fact), "state": evaluate(pattern.tests, fact.fields),
                               "tests": self.tests(pattern.tests, fact),
                               "basis": self.basis(fact, pattern, stack)})
        return {"conditions": conditions}

    def tests(self, tests: tuple, fact) -> list[dict]:
        out = []
        for test in tests:
            if isinstance(test, AnyOf):
                groups = [{"state": evaluate(g, fact.fields if fact else {}), "tests": self.tests(g, fact)}
                          for g in test.groups]
                out.append({"any": groups, "state": combine_any(g["state"] for g in groups),
                            "text": "at least one of these holds"})
                continue
            fields = fact.fields if fact is not None else {}
            state = evaluate_test(test, fields)
            node = {"field": test.field, "op": test.op, "expected": _json_value(test.value), "state": state,
                    "text": self.test_text(test, fact, state)}
            if fields.get(test.field) is not None:
                node["actual"] = fields[test.field]
            param = self.parameter(test)
            if param:
                node["parameter"] = param
            unit = self.unit(fact.type, test.field) if fact is not None else ""
            if unit:
                node["unit"] = unit
            if fact is not None and state == UNKNOWN:
                node["missing"] = {"field": test.field, "inputs": self.settling_paths(fact, test.field)}
            out.append(node)
        return out

    def basis(self, fact, pattern=None, stack: tuple = ()) -> dict:
        """Where a matched fact came from, down to input fields."""
        if fact.type == "conclusion":
            return self.conclusion_node(fact.fields["code"], stack)
        if fact.rule:
            rule = self.kb.rules[fact.rule]
            firing = next((f for f in self.firings[rule.id]
                           if [f.matched[p.alias]["id"] for p in rule.patterns] == list(fact.because)), None)
            node = {"node": "derived", "fact": fact.id, "type": fact.type, "label": self.label(fact),
                    "fields": {k: v for k, v in fact.fields.items() if _scalar(v)},
                    "rule": self.rule_info(rule), "match": self.match(rule, firing, stack) if firing else
                    {"conditions": []}, "citations": self.citations(rule)}
            return node
        if fact.derived_from:
            return {"node": "computed", "fact": fact.id, "type": fact.type, "label": self.label(fact),
                    "fields": {k: v for k, v in fact.fields.items() if _scalar(v)},
                    "from": [self.basis(self.facts[i]) for i in fact.derived_from]}
        tested = [t.field for t in referenced_fields(pattern.tests)] if pattern is not None else None
        return self.input_node(fact, tested)

    def input_node(self, fact, tested: list[str] | None) -> dict:
        """An input fact and its input fields: the tested ones when a rule tested it directly."""
        def shown(field, value):
            unit = self.unit(fact.type, field)
            return format_number(value, unit).removesuffix(unit).strip() if unit in UNIT_DECIMALS else \
                _value_text(value)

        def entry(field):
            value, path = fact.fields[field], fact.paths[field]
            found, given = _lookup(self.ev.case, path)
            out = {"field": field, "path": path, "value": given if found else value, "recorded": True,
                   "shown": shown(field, given if found else value)}
            if found and given != value:  # a value read from the input, such as a class from an agent
                out["read_as"] = f"{field} {format_number(value, self.unit(fact.type, field))}"
            return out

        containers = {p for p in fact.paths.values() if any(q.startswith(p + ".") for q in fact.paths.values())}
        inputs = []
        for field in dict.fromkeys(tested or []):
            if field in fact.paths and fact.paths[field] not in containers:
                inputs.append(entry(field))
            elif fact.fields.get(field) is None:
                for path in self.settling_paths(fact, field):
                    inputs.append({"field": field, "path": path, "recorded": False})
        if not inputs:
            inputs = [entry(f) for f in fact.paths if fact.paths[f] not in containers]
        if not inputs:
            for field, spec in self.type_fields(fact.type).items():
                if spec.get("source"):
                    inputs += [{"field": field, "path": p, "recorded": False}
                               for p in self.settling_paths(fact, field)]
        return {"node": "input", "fact": fact.id, "type": fact.type, "label": self.label(fact), "inputs": inputs}

    # -- why not --------------------------------------------------------------------------------------
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
        if type_ == "conclusion":
            return {"code", "kind"}
        return {k for r in self.kb.rules.values() if r.asserts == type_ for k in r.then["assert"].get("set", {})}

    def attempt(self, rule, pushdown: tuple, depth: int) -> dict:
        """How far ``rule`` got on this case; ``pushdown`` adds tests a later rule needs on its facts."""
        key = (rule.id, pushdown)
        node = {"rule": self.rule_info(rule)}
        if rule.concludes:
            node.update(concludes=rule.concludes, support=rule.support)
        if rule.asserts:
            node["asserts"] = rule.asserts
        node.update(fired=bool(self.firings[rule.id]), state=UNKNOWN)
        if key in self._shown:
            node.update({"state": self._shown[key], "repeat": True, "patterns": []})
            return node
        self._shown[key] = UNKNOWN  # until worked out; rules are staged, so no attempt meets itself
        extra = dict(pushdown)
        patterns = [self.pattern_attempt(p, extra.get(p.alias, ()), depth) for p in rule.patterns]
        node["patterns"] = patterns
        node["state"] = self._shown[key] = combine_all(p["state"] for p in patterns)
        return node

    def pattern_attempt(self, pattern, extra: tuple, depth: int) -> dict:
        tests = tuple(pattern.tests) + tuple(extra)
        node = {"alias": pattern.alias, "fact_type": pattern.fact, "state": UNKNOWN}  # state: worked out below
        if extra:
            node["required_by_later_rule"] = [self.requirement(t) for t in referenced_fields(extra)]
        produced = pattern.fact not in self.kb.fact_types or self.kb.fact_types[pattern.fact].get(
            "asserted_by") != "case"
        identity_fields = self.constant_fields(pattern.fact) if produced else set(self.keys(pattern.fact))
        identity = tuple(t for t in tests if not isinstance(t, AnyOf) and t.field in identity_fields
                         and t.op in ("eq", "in"))
        candidates = [f for f in self.by_type[pattern.fact] if evaluate(identity, f.fields) == TRUE]
        for fact in candidates:
            if evaluate(tests, fact.fields) == TRUE:
                node.update({"state": TRUE, "matched": {"fact": fact.id, "label": self.label(fact)},
                             "tests": self.tests(tests, fact)})
                return node
        scored = []
        for fact in candidates:
            states = [evaluate((t,), fact.fields) for t in tests]
            scored.append((states.count(TRUE), -states.count(FALSE), fact))
        scored.sort(key=lambda s: (-s[0], -s[1]))
        best = [s for s in scored if s[0] == scored[0][0]][:MAX_CANDIDATES] if scored else []
        node["candidates"] = [{"fact": f.id, "label": self.label(f), "state": evaluate(tests, f.fields),
                               "tests": self.tests(tests, f)} for _, _, f in best]
        states = [c["state"] for c in node["candidates"]]
        if not candidates:
            node["missing"] = self.absence(pattern.fact, identity, produced)
        if produced:
            if depth >= MAX_DEPTH:
                node["truncated"] = True
                if not candidates:
                    states.append(FALSE)
            else:
                producers = self.producers(pattern.fact, identity)
                node["producers"] = [self.attempt(r, self.push(r, tests), depth + 1) for r in producers]
                if not candidates:
                    states.append(combine_any(p["state"] for p in node["producers"]) if producers else FALSE)
        elif not candidates:
            states.append(UNKNOWN)  # input not recorded: the case cannot say
            paths = []
            hints = {t.field: t.value for t in identity if t.op == "eq"}
            hints["__type__"] = pattern.fact
            for test in referenced_fields(tests):
                if test.field not in identity_fields:
                    paths += [p for p in self.settling_paths(None, test.field, hints) if p not in paths]
            node["missing"]["inputs"] = paths
        node["state"] = combine_any(states) if states else FALSE
        return node

    def absence(self, type_: str, identity: tuple, produced: bool) -> dict:
        wanted = ", ".join(self.requirement(t) for t in identity)
        what = _words(type_) + (f" with {wanted}" if wanted else "")
        if type_ == "conclusion" and identity:
            what = "conclusion " + ", ".join(_value_text(t.value) for t in identity if t.field == "code")
            text = f"{what} was not drawn"
        elif produced:
            text = f"no {what} was derived"
        else:
            text = f"the case gives no {what}"
        return {"text": text}

    def push(self, rule, tests: tuple) -> tuple:
        """Tests on the fields a producing rule copies become tests on the fact it copies them from."""
        spec = rule.then.get("assert")
        if not spec or not spec.get("from"):
            return ()
        copied = set(spec.get("copy", []))
        moved = tuple(t for t in tests if not isinstance(t, AnyOf) and t.field in copied)
        return ((spec["from"], moved),) if moved else ()


def format_number(value, unit: str = "", signed: bool = False, decimals: int | None = None) -> str:
    """A number as a reader expects it: the unit's own precision, otherwise at most 2 decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _value_text(value)
    if decimals is None:
        decimals = UNIT_DECIMALS.get(unit)
    if decimals is not None:
        text = f"{value:.{decimals}f}"
    elif float(value).is_integer():
        text = str(int(value))
    else:
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        if float(text) == 0:
            text = f"{value:.3g}"
    if signed and not text.startswith("-") and value != 0:
        text = "+" + text
    return f"{text} {unit}".strip()


def format_pair(actual, threshold, unit: str, signed: bool = False) -> tuple[str, str]:
    """Actual and threshold, with enough decimals that unequal numbers never read as equal."""
    a, t = format_number(actual, unit, signed), format_number(threshold, unit, signed)
    digits = 3
    while a == t and actual != threshold and digits <= 8:
        a, t = format_number(actual, unit, signed, digits), format_number(threshold, unit, signed, digits)
        digits += 1
    return a, t


def _placeholders(fields: dict) -> list[str]:
    """``site`` and ``name`` in sources such as ``scans[i].sites.<site>.bmd_g_cm2``, in order."""
    found = []
    for spec in fields.values():
        for name in re.findall(r"<(\w+)>", str(spec.get("source", ""))):
            if name not in found:
                found.append(name)
    return found


_lookup = fieldpath.lookup   # (case, input path) -> (found, value)


def _recorded(case: dict, path: str) -> bool:
    return _lookup(case, path)[0]


def _value_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "not recorded"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value)
    return str(value)


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


def _reference_text(record: dict) -> str:
    """A resolved reference as one citation line (Vancouver-like)."""
    authors = record.get("authors", [])
    names = ", ".join(authors[:3]) + (", et al." if len(authors) > 3 else "")
    parts = [p for p in (names, record.get("title", "").rstrip(".") + ".", record.get("journal", ""))]
    text = " ".join(p for p in parts if p)
    if record.get("year"):
        text += f" {record['year']}"
    if record.get("volume"):
        text += f";{record['volume']}" + (f"({record['issue']})" if record.get("issue") else "")
    if record.get("pages"):
        text += f":{record['pages']}"
    text += "."
    if record.get("doi"):
        text += f" doi:{record['doi']}"
    return text
