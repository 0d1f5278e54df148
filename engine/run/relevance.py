"""Which facts can matter to the rules: a fact no rule pattern could ever match is not
sent to the rule engine.

Every pattern tests one fact at a time (compiler.py needs no joins), so a fact
that fails some test of every pattern on its type can take part in no match and
no firing. Sending it anyway costs a JSON hand-over and a pass through the
engine's network for nothing; most input facts of a case (findings recorded as
false, labs in range, older intervals) and most conclusions (no rule chains on
them) are such facts.

The judgement is deliberately one-sided: a test counts as failed only when the
answer cannot depend on how the engine compares values, i.e. both sides are
strings, both booleans, or both numbers (exactly representable as doubles), and
the comparison fails; or the field is required to exist and does not, or required
to be absent and is present. Anything else is "might match" and the fact is sent.
"""
from __future__ import annotations

from bmdkb.engine.kb.conditions import AnyOf

_EXACT = 2.0 ** 53   # numbers below this size compare the same as the engine's doubles


def _kind(value):
    """'str', 'bool' or 'number' (exactly comparable); None when no shortcut is safe."""
    kind = type(value)
    if kind is str:
        return "str"
    if kind is bool:
        return "bool"
    if (kind is int or kind is float) and -_EXACT < value < _EXACT:  # NaN and infinities fail this too
        return "number"
    return None


_IS = {"str": "type({x}) is str", "bool": "type({x}) is bool",
       "number": "(type({x}) is int or type({x}) is float) and -_EXACT < {x} < _EXACT"}
_NOT = {"lt": ">=", "lte": ">", "gt": "<=", "gte": "<"}  # x fails `x < b` exactly when `x >= b` (no NaN here)


def _fails(test, var) -> str:
    """A Python expression, True when ``test`` certainly fails on the engine record."""
    if isinstance(test, AnyOf):
        return "(" + " and ".join(_pattern_fails(group, var) for group in test.groups) + ")"
    x = var(test.field)
    if test.op == "exists":
        return f"({x} is None)" if test.value else f"({x} is not None)"
    if test.op in ("eq", "ne", "in"):
        options = tuple(test.value) if test.op == "in" else (test.value,)
        kinds = {_kind(option) for option in options}
        if len(kinds) != 1 or None in kinds:
            return "False"
        is_kind = _IS[kinds.pop()].format(x=x)
        return f"({is_kind} and {x} {'in' if test.op == 'ne' else 'not in'} {options!r})"
    if _kind(test.value) != "number":
        return "False"
    return f"({_IS['number'].format(x=x)} and {x} {_NOT[test.op]} {test.value!r})"


def _pattern_fails(tests: tuple, var) -> str:
    return "(" + " or ".join(_fails(test, var) for test in tests) + ")" if tests else "False"


def _compile(patterns: list):
    """One function per fact type: view -> could some pattern match it?"""
    fields: dict[str, str] = {}

    def var(field: str) -> str:
        return fields.setdefault(field, f"x{len(fields)}")

    conditions = [_pattern_fails(tests, var) for tests in patterns]
    lines = ["def could_match(view):"]
    lines += [f"    {name} = view.get({field!r})" for field, name in fields.items()]
    lines += [f"    if not {condition}:\n        return True" for condition in conditions]
    lines.append("    return False")
    namespace = {"_EXACT": _EXACT}
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from parsed rule tests, literals via repr
    return namespace["could_match"]


class Relevance:
    """For each fact type, the patterns that match it, compiled into one function;
    ``could_match(view)`` is False only for an engine record that certainly matches none."""

    def __init__(self, kb):
        distinct: dict[str, dict] = {}
        for rule in kb.rules.values():
            for pattern in rule.patterns:
                distinct.setdefault(pattern.fact, {})[pattern.tests] = None  # many rules share a pattern
        self.by_type = {fact: _compile(list(patterns)) for fact, patterns in distinct.items()}

    def could_match(self, view: dict) -> bool:
        """False only when the engine record certainly matches no rule's pattern."""
        check = self.by_type.get(view["type"])
        return check is not None and check(view)
