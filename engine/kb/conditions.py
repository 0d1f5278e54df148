"""Rule conditions as data, and their three-valued evaluation.

A test on a field the fact does not carry is UNKNOWN, never false. The same
parsed conditions are compiled for the rule engine (compiler.py) and evaluated
here for explanations, so both read one definition.
"""
from __future__ import annotations

from dataclasses import dataclass

from bmdkb.engine.common.limits import MAX_ANY_DEPTH, MAX_IN_VALUES

TRUE, FALSE, UNKNOWN = "satisfied", "not satisfied", "unknown"
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "exists")
SYMBOL = {"eq": "=", "ne": "≠", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "is one of", "exists": "recorded"}


@dataclass(frozen=True)
class ParamRef:
    """A condition's reference to a named parameter, optionally multiplied by ``times``."""

    name: str
    times: float = 1


@dataclass(frozen=True)
class Test:
    """``field op value``; ``operand`` keeps the parameter reference for display."""

    field: str
    op: str
    value: object
    operand: object = None

    @property
    def param(self) -> ParamRef | None:
        """The parameter this test's value comes from, or None for a literal value."""
        return self.operand if isinstance(self.operand, ParamRef) else None


@dataclass(frozen=True)
class AnyOf:
    """An 'any' condition: satisfied when at least one of its groups of tests is."""

    groups: tuple  # of tuples of Test | AnyOf


@dataclass(frozen=True)
class Pattern:
    """One condition of a rule: the fact type it matches, the alias it is known by, and its tests."""

    fact: str
    alias: str
    tests: tuple  # of Test | AnyOf


class ConditionError(ValueError):
    """A condition refers to something that does not exist; ``field`` is its path."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _operand(raw, params: dict, path: str):
    if isinstance(raw, dict):
        name = raw["param"]
        if name not in params:
            raise ConditionError(f"{path}.param", f"unknown parameter {name!r}")
        ref = ParamRef(name, raw.get("times", 1))
        return params[name] * ref.times, ref
    return raw, None


def parse_where(where: dict, params: dict, path: str) -> tuple:
    """The tests of a ``where`` block, with parameter references resolved to their values."""
    tests = []
    for field, spec in (where or {}).items():
        if field == "any":
            groups = tuple(parse_where(group, params, f"{path}.any[{i}]") for i, group in enumerate(spec))
            tests.append(AnyOf(groups))
        elif isinstance(spec, dict):
            for op in OPERATORS:
                if op in spec:
                    if op == "in":
                        tests.append(Test(field, "in", tuple(spec["in"])))
                    else:
                        value, ref = _operand(spec[op], params, f"{path}.{field}.{op}")
                        tests.append(Test(field, op, value, ref))
        else:
            tests.append(Test(field, "eq", spec))
    return tuple(tests)


def parse_when(when: list, params: dict) -> tuple:
    """A rule's ``when`` list as patterns, one per matched fact."""
    patterns = []
    for i, raw in enumerate(when):
        patterns.append(Pattern(raw["fact"], raw.get("as", raw["fact"]), parse_where(raw.get("where"), params, f"when[{i}].where")))
    return tuple(patterns)


def _equal(a, b) -> bool:
    # In JSON (and in the rule engine) true is not 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def evaluate_test(test: Test, fields: dict) -> str:
    """Three-valued truth of one test on a fact's fields (unknown when the field is absent, except for 'exists')."""
    present = fields.get(test.field) is not None
    if test.op == "exists":
        return TRUE if present == test.value else FALSE
    if not present:
        return UNKNOWN
    actual = fields[test.field]
    if test.op == "eq":
        ok = _equal(actual, test.value)
    elif test.op == "ne":
        ok = not _equal(actual, test.value)
    elif test.op == "in":
        ok = any(_equal(actual, v) for v in test.value)
    else:
        if not (_number(actual) and _number(test.value)):
            return FALSE
        ok = {"lt": actual < test.value, "lte": actual <= test.value,
              "gt": actual > test.value, "gte": actual >= test.value}[test.op]
    return TRUE if ok else FALSE


def combine_all(states) -> str:
    """Truth of 'all of': not satisfied if any is, else unknown if any is, else satisfied."""
    states = list(states)
    if FALSE in states:
        return FALSE
    return UNKNOWN if UNKNOWN in states else TRUE


def combine_any(states) -> str:
    """Truth of 'any of': satisfied if any is, else unknown if any is, else not satisfied."""
    states = list(states)
    if TRUE in states:
        return TRUE
    return UNKNOWN if UNKNOWN in states else FALSE


def evaluate(tests: tuple, fields: dict) -> str:
    """Three-valued truth of a group of tests on one fact's fields."""
    states = []
    for test in tests:
        if isinstance(test, AnyOf):
            states.append(combine_any(evaluate(group, fields) for group in test.groups))
        else:
            states.append(evaluate_test(test, fields))
    return combine_all(states)


def referenced_fields(tests: tuple):
    """Every single test in a group, including those nested in 'any' conditions."""
    for test in tests:
        if isinstance(test, AnyOf):
            for group in test.groups:
                yield from referenced_fields(group)
        else:
            yield test


def parameters_used(patterns: tuple) -> list[str]:
    """Sorted names of the parameters the patterns' tests refer to."""
    return sorted({t.param.name for p in patterns for t in referenced_fields(p.tests) if t.param})


def engine_limit_problems(when: list):
    """(field, message) for each condition the rule engine cannot run (engine/limits.py):
    an ``in:`` list (or ``any:``) of more than MAX_IN_VALUES alternatives (durable_rules'
    compilation hangs forever at 513 values) or ``any:`` nested deeper than MAX_ANY_DEPTH
    (refused by it at 5 levels). What passes is then compiled once by durable_rules itself
    (runtime.compile_problem), which refuses the rest (too many tests in one `any` group...)."""
    def walk(where, path: str, depth: int):
        for field, spec in (where or {}).items():
            if field == "any":
                if depth + 1 > MAX_ANY_DEPTH:
                    yield (f"{path}.any", f"`any` nested {depth + 1} levels deep; the rule engine runs at most "
                                          f"{MAX_ANY_DEPTH} (limit)")
                    continue
                if isinstance(spec, list) and len(spec) > MAX_IN_VALUES:   # one $or, like an `in` list
                    yield (f"{path}.any", f"{len(spec)} alternatives; the rule engine takes at most {MAX_IN_VALUES} "
                                          "per `any` (limit)")
                    continue
                for i, group in enumerate(spec or []):
                    yield from walk(group, f"{path}.any[{i}]", depth + 1)
            elif isinstance(spec, dict) and isinstance(spec.get("in"), list) and len(spec["in"]) > MAX_IN_VALUES:
                yield (f"{path}.{field}.in", f"{len(spec['in'])} values; the rule engine takes at most "
                                             f"{MAX_IN_VALUES} per `in` list (limit)")

    for i, raw in enumerate(when or []):
        yield from walk(raw.get("where"), f"when[{i}].where", 0)
