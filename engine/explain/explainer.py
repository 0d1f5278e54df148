"""Explanations: why a conclusion was drawn, why another was not, down to the input fields and the
source sentence. The entry points other layers call; the work is done by one module per job:

    index.py        what the case produced (facts, firings, conclusions), looked up
    vocabulary.py   the fact types' fields, units, keys, ratio fields and parameters
    trace.py        facts back to input paths and values; paths that would settle an unknown
    provenance.py   rule status, quotes (verified or not) and references
    why.py          the derivation tree of a conclusion, as model nodes
    why_not.py      every rule that could have drawn a conclusion and how far it got
    model.py        the typed nodes, holding values and keys, no English
    wording.py      all the English: sentences, labels, numbers in units
    serialise.py    model + wording -> the JSON document (schemas/explanation.schema.json)
    domain_hints.py units' reported precision and input-path reading

Everything is read back from an Evaluation and the rules' own conditions, re-evaluated with
engine/kb/conditions.py, so the explanation and the engine read one definition. The renderers in
cli/render/explanation.py turn the JSON documents into text and Markdown.
"""
from __future__ import annotations

from bmdkb.engine.common.errors import Problem
from bmdkb.engine.explain.index import CaseIndex, NotConcludedError, UnknownCodeError, check_code
from bmdkb.engine.explain.model import Explanation
from bmdkb.engine.explain.provenance import Provenance
from bmdkb.engine.explain.serialise import FORMAT_VERSION, Serialiser
from bmdkb.engine.explain.trace import Tracer
from bmdkb.engine.explain.vocabulary import Vocabulary
from bmdkb.engine.explain.why import WhyBuilder
from bmdkb.engine.explain.why_not import MAX_CANDIDATES, MAX_DEPTH, WhyNotBuilder
from bmdkb.engine.explain.wording import Wording, format_number, format_pair
from bmdkb.engine.kb.conditions import referenced_fields

__all__ = ["why", "why_not", "explain", "short_why", "check_code", "UnknownCodeError", "NotConcludedError",
           "format_number", "format_pair", "FORMAT_VERSION", "MAX_DEPTH", "MAX_CANDIDATES"]


class _Parts:
    """The builders and wording for one document over one evaluation (why-not remembers, per
    document, which rule attempts it has already written out)."""

    def __init__(self, kb, evaluation, statuses=None):
        self.index = CaseIndex(kb, evaluation, statuses)
        self.vocab = Vocabulary(kb)
        tracer = Tracer(self.index, self.vocab)
        provenance = Provenance(self.index)
        self.why = WhyBuilder(self.index, self.vocab, tracer, provenance)
        self.why_not = WhyNotBuilder(self.index, self.vocab, tracer, provenance, self.why)
        self.wording = Wording(self.vocab)
        self.serialiser = Serialiser(self.wording)


def why(kb, evaluation, code: str, statuses=None) -> dict:
    """The derivation tree of a conclusion the case produced."""
    check_code(kb, code)
    parts = _Parts(kb, evaluation, statuses)
    if not parts.index.fired(code):
        raise NotConcludedError(Problem(evaluation.file, "", f"{code} was not concluded for case "
                                        f"{evaluation.case['case_id']}; ask why not instead"))
    return parts.serialiser.conclusion(parts.why.conclusion(code, ()))


def why_not(kb, evaluation, code: str, statuses=None) -> dict:
    """Every rule that could conclude ``code``, and each of its conditions: satisfied,
    not satisfied (value against threshold) or unknown (and which input would settle it).
    For a code that fired, the rules with stronger support that did not fire."""
    check_code(kb, code)
    parts = _Parts(kb, evaluation, statuses)
    return parts.serialiser.why_not(parts.why_not.why_not(code))


def explain(kb, evaluation, code: str, why_not: bool = False, statuses=None) -> dict:
    """The explanation document (schemas/explanation.schema.json).

    A code that fired gets its why; asked why not, the document says it fired and
    adds why stronger rules for the same code did not. A code that did not fire
    gets its why-not whichever was asked."""
    check_code(kb, code)
    parts = _Parts(kb, evaluation, statuses)
    fired = parts.index.fired(code)
    result = evaluation.result
    doc = Explanation(result["case_id"], evaluation.file, result["knowledge_base"], code,
                      "why-not" if why_not else "why", fired)
    if fired:
        doc.why = parts.why.conclusion(code, ())
    if why_not or not fired:
        doc.why_not = parts.why_not.why_not(code)
    return parts.serialiser.document(doc)


def short_why(kb, evaluation, code: str) -> str:
    """One line: the rule that drew the conclusion and the facts it matched."""
    parts = _Parts(kb, evaluation)
    words = parts.wording
    rule = parts.index.winning_rule(code)
    firings = parts.index.firings[rule.id]
    out = []
    for pattern in rule.patterns:
        fact = parts.index.facts[firings[0].matched[pattern.alias]["id"]]
        if fact.type == "conclusion":
            out.append(fact.fields["code"])
            continue
        values = []
        for test in referenced_fields(pattern.tests):
            if fact.fields.get(test.field) is not None:
                values.append(words.compact_value(test.field, fact))
            else:
                values.append(words.not_recorded(fact.type, test.field))
        out.append(f"{words.label(fact)} ({', '.join(dict.fromkeys(values))})" if values else words.label(fact))
    line = f"rule {rule.id} v{rule.version} matched " + "; ".join(out)
    if len(firings) > 1:
        line += f" (and {len(firings) - 1} more match{'es' if len(firings) > 2 else ''})"
    return line
