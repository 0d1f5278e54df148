"""A rule's conditions and its outcome in words, for the rule page: the same sentences the
explanations use (engine/explain/wording.py), said of the rule alone, without a case."""
from __future__ import annotations

from dataclasses import dataclass, field

from bmdkb.engine.explain.vocabulary import Vocabulary
from bmdkb.engine.explain.wording import ANY_TEXT, Wording, words
from bmdkb.engine.kb.conditions import AnyOf


@dataclass
class Requirement:
    """One test of a condition in words, or an any-of group (``groups`` of requirement lists)."""

    text: str
    parameter: str | None = None
    local_policy: bool = False
    groups: list = field(default_factory=list)


@dataclass
class Condition:
    """One fact a rule matches: what kind, the name it goes by, and what it must satisfy."""

    fact: str
    alias: str
    heading: str
    requirements: list


def _requirements(tests, type_: str, wording: Wording, vocab: Vocabulary) -> list[Requirement]:
    out = []
    for test in tests:
        if isinstance(test, AnyOf):
            out.append(Requirement(ANY_TEXT, groups=[_requirements(g, type_, wording, vocab) for g in test.groups]))
            continue
        param = vocab.parameter(test)
        text = wording.requirement(test, type_)
        if param is not None:
            times = "" if param.times == 1 else f" × {param.times:g}"
            text += f" (parameter {param.name}{times})"
        out.append(Requirement(text, param.name if param else None,
                               bool(param and param.origin == "local_policy")))
    return out


def describe(kb, rule) -> list[Condition]:
    """The conditions of ``rule``, each as a heading and its requirements in words."""
    vocab = Vocabulary(kb)
    wording = Wording(vocab)
    out = []
    for pattern in rule.patterns:
        if pattern.fact == "conclusion":
            codes = [t.value for t in pattern.tests if not isinstance(t, AnyOf) and t.field == "code" and t.op == "eq"]
            rest = tuple(t for t in pattern.tests if isinstance(t, AnyOf) or t.field != "code" or t.op != "eq")
            heading = f"the conclusion {codes[0]} has been drawn" if codes else "a conclusion has been drawn"
            out.append(Condition(pattern.fact, pattern.alias, heading, _requirements(rest, "conclusion", wording, vocab)))
            continue
        heading = f"a {words(pattern.fact)}" + (f" (called “{pattern.alias}”)" if pattern.alias != pattern.fact else "")
        out.append(Condition(pattern.fact, pattern.alias, heading,
                             _requirements(pattern.tests, pattern.fact, wording, vocab)))
    return out


def outcome(rule) -> str:
    """What the rule does when every condition holds."""
    if rule.concludes:
        return f"concludes {rule.concludes} ({rule.support})"
    spec = rule.then.assertion
    kind = words(spec.type)
    article = "an" if kind[:1] in "aeiou" else "a"
    return f"derives {article} {kind} fact" + (f" from “{spec.source}”" if spec.source else "")
