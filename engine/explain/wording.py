"""All the English of an explanation: values in the case's own units, tests as sentences, facts as
labels, absences, input values, parameter origins and reference lines.

The model (model.py) carries values and keys; serialise.py asks this module for the words when
it writes the JSON document, and the renderers (cli/render/explanation.py) use the same words.
Field words, units and key fields come from the fact vocabulary (vocabulary.py).
"""
from __future__ import annotations

import re
from decimal import Decimal

from bmdkb.engine import adapters
from bmdkb.engine.explain.model import Absence, InputEntry, Parameter, TestOutcome
from bmdkb.engine.kb.conditions import FALSE, SYMBOL

ANY_TEXT = "at least one of these holds"
UNREGISTERED = "not registered in provenance/references.yaml"
NO_REASON = "no reason recorded"
FIELD_WORDS = 5  # a field description longer than this explains the field rather than naming it


# --- values ---------------------------------------------------------------------------------------
def words(value) -> str:
    """A key or type name as words: ``total_hip`` -> ``total hip``."""
    return str(value).replace("_", " ")


def value_text(value) -> str:
    """A test's value or a field's value as written in a sentence."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "not recorded"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    return str(value)


def format_number(value, unit: str = "", signed: bool = False, decimals: int | None = None) -> str:
    """A number as a reader expects it: the unit's own precision, otherwise at most 2 decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value_text(value)
    if decimals is None:
        decimals = adapters.unit_decimals().get(unit)
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


def parameter_origin(param: Parameter) -> str:
    """Where a parameter's value comes from, in words."""
    if param.origin == "local_policy":
        return f"local policy ({param.owner if param.owner is not None else 'owner not named'})"
    return {"cited": "cited", "not_stated": "not stated"}[param.origin]


def shown(entry: InputEntry) -> str:
    """An input value as given, in its unit's precision (without the unit) when it has one."""
    unit = entry.unit
    return format_number(entry.value, unit).removesuffix(unit).strip() if unit in adapters.unit_decimals() else \
        value_text(entry.value)


def reference_text(record: dict) -> str:
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


def flat(text) -> str:
    """Knowledge-base prose on one line (its YAML folding undone)."""
    return " ".join(str(text).split())


def note(code: str, fired: bool) -> str:
    """The document's one-line answer."""
    return f"{code} was concluded for this case, so here is why it was." if fired else \
        f"{code} was not concluded for this case."


# --- sentences that need the vocabulary -----------------------------------------------------------
class Wording:
    """Sentences about facts and tests, in the fact vocabulary's units and key fields."""

    def __init__(self, vocabulary):
        self.vocab = vocabulary

    def field(self, type_: str | None, field: str) -> str:
        """How a field is named in a sentence: the fact vocabulary's words for it when they are a
        short phrase (``bmd_g_cm2`` -> ``bone mineral density``), else the field's own name. A
        description that lists values (``naive | current | past``), defines them (``0 = ...``) or
        runs past FIELD_WORDS words explains the field rather than naming it, so it is not used;
        only the part before a parenthesis counts. A description with a comma or semicolon is a
        sentence, and its first clause alone can say something else ("false when scanner, spine
        region or hip side is not recorded" is not "false when scanner"), so it is not used either."""
        if type_ is None:
            return field
        description = self.vocab.type_fields(type_).get(field, {}).get("description")
        if not isinstance(description, str):
            return field
        head = description.split(" (", 1)[0].strip()
        if not head or re.search(r"[=|:`<>,;]", head) or len(head.split()) > FIELD_WORDS:
            return field
        return head

    def meaning(self, type_: str | None, field: str, value) -> str | None:
        """What a coded value means, when the field's description defines it
        (``recency``: ``0 = most recent interval, 1 = the one before``)."""
        if type_ is None or isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        description = self.vocab.type_fields(type_).get(field, {}).get("description")
        if not isinstance(description, str):
            return None
        defined = dict(re.findall(r"(?:^|, )([^\s,=]+) = ([^,]+)", description))
        return defined.get(str(value))

    def _named(self, type_: str | None, test) -> str:
        """A tested field's name in a test sentence; a boolean stays as named (``comparable = true``
        reads better than a clause followed by ``= true``)."""
        if test.op in ("eq", "ne") and isinstance(test.value, bool):
            return test.field
        return self.field(type_, test.field)

    def label(self, fact) -> str:
        """A fact as a short phrase: its key fields and type, and the knowledge base's own label."""
        if fact.type == "conclusion":
            return f"conclusion {fact.fields['code']}"
        ident = [words(fact.fields[k]) for k in self.vocab.keys(fact.type) if k in fact.fields]
        label = fact.fields.get("label")
        if isinstance(label, str):  # the knowledge base's own short phrase, unless it repeats the key
            return f"{words(fact.type)}: {label}" if " ".join(ident) in label else \
                f"{' '.join(ident + [words(fact.type)])}: {label}"
        return " ".join(ident + [words(fact.type)])

    def requirement(self, test, type_: str | None = None) -> str:
        """A test as the rule states it, without any fact (on a fact of ``type_``, when known)."""
        name = self._named(type_, test)
        if test.op == "eq" and self.meaning(type_, test.field, test.value):
            return self.meaning(type_, test.field, test.value)
        if test.op == "exists":
            return f"{name} {'is recorded' if test.value else 'is not recorded'}"
        if test.op == "in":
            return f"{name} {SYMBOL['in']} {value_text(test.value)}"
        param = self.vocab.parameter(test)
        return f"{name} {SYMBOL[test.op]} {format_number(test.value, param.unit if param else '')}"

    def test_text(self, outcome: TestOutcome) -> str:
        """A test on a fact: the actual value against the threshold, or what is not recorded."""
        test, fact, state, param = outcome.test, outcome.fact, outcome.state, outcome.parameter
        if fact is None:
            return self.requirement(test)
        fields = fact.fields
        type_ = fact.type
        field, op = test.field, test.op
        name = self._named(type_, test)
        present = fields.get(field) is not None
        if op == "exists":
            wanted = "is recorded" if test.value else "is not recorded"
            text = f"{name} {wanted}"
            if present and not test.value:
                text += f" (it is recorded: {format_number(fields[field], self.vocab.unit(type_, field))})"
            return text
        unit = self.vocab.unit(type_, field) or (param.unit if param else "")
        if op in ("eq", "ne", "in"):
            meaning = self.meaning(type_, field, test.value) if op == "eq" else None
            text = meaning or f"{name} {SYMBOL[op]} {value_text(test.value)}"
            if not present:
                return text + " (not recorded)"
            if state == FALSE:
                actual_meaning = self.meaning(type_, field, fields[field]) if meaning else None
                text += f" (it is {format_number(fields[field], unit)}" + \
                    (f": {actual_meaning})" if actual_meaning else ")")
            return text
        symbol = SYMBOL[op]
        param_note = ""
        if param:
            times = "" if param.times == 1 else f" × {format_number(param.times)}"
            policy = ", local policy" if param.origin == "local_policy" else ""
            param_note = f"; parameter {param.name}{times}{policy}"
        ratio = self.vocab.ratio(field, fact)
        if ratio:
            num, den = ratio
            num_unit = self.vocab.unit(type_, num)
            subject = " ".join([words(fields[k]) for k in self.vocab.keys(type_) if k in fields]
                               + [self.vocab.description(type_, num)])
            wanted = format_number(test.value, unit, signed=True)
            if fields.get(num) is not None and fields.get(den) is None:
                return (f"{subject} {format_number(fields[num], num_unit, signed=True)} {symbol} {wanted}"
                        f" ({self.vocab.description(type_, den)} not recorded){param_note}")
        if ratio and present:
            limit = float(Decimal(repr(test.value)) * Decimal(repr(fields[den])))
            actual, threshold = format_pair(fields[num], limit, num_unit, signed=True)
            return (f"{subject} {actual} {symbol} {wanted} = {threshold}"
                    f" ({format_number(fields[field], unit, signed=True)}){param_note}")
        if not present:
            return f"{name} {symbol} {format_number(test.value, unit)} (not recorded){param_note}"
        actual, threshold = format_pair(fields[field], test.value, unit)
        return f"{name} {actual} {symbol} {threshold}{param_note}"

    def compact_value(self, field: str, fact) -> str:
        """A tested value in a few words, for the one-line why."""
        value = fact.fields[field]
        ratio = self.vocab.ratio(field, fact)
        unit = self.vocab.unit(fact.type, field)
        if ratio:
            num = ratio[0]
            return (f"{format_number(fact.fields[num], self.vocab.unit(fact.type, num), signed=True)}"
                    f" = {format_number(value, unit, signed=True)}")
        if isinstance(value, bool):  # a flag keeps its name: "technique_verified false", as the tests read
            return f"{field} {format_number(value, unit)}"
        return f"{self.field(fact.type, field)} {format_number(value, unit)}"

    def not_recorded(self, type_: str, field: str) -> str:
        """A tested field the fact does not record, for the one-line why."""
        return f"{self.field(type_, field)} not recorded"

    def read_as(self, fact, entry: InputEntry) -> str:
        """The value a fact holds when it differs from the one given at its input path. The field
        keeps its name here: it says which field of the fact holds the normalised value, next to
        the input path it was read from."""
        return f"{entry.field} {format_number(entry.fact_value, entry.unit)}"

    def absence(self, absence: Absence) -> str:
        """No fact of the wanted kind: not drawn, not derived, or not given by the case."""
        type_, identity = absence.type_, absence.identity
        wanted = ", ".join(self.requirement(t) for t in identity)  # key fields: their names say it best
        what = words(type_) + (f" with {wanted}" if wanted else "")
        if type_ == "conclusion" and identity:
            what = "conclusion " + ", ".join(value_text(t.value) for t in identity if t.field == "code")
            return f"{what} was not drawn"
        if absence.produced:
            return f"no {what} was derived"
        return f"the case gives no {what}"
