"""Short why-not lines for a failed rule test, read from explain's why-not, and the one-line
description of a rule's tests that lint quotes."""
from __future__ import annotations

from bmdkb.engine.explain import explainer as explain
from bmdkb.engine.kb import conditions


def why_not(kb, evaluation, code: str, support: str | None = None) -> list[str]:
    """Short reasons ``code`` (with ``support``, if given) was not concluded: one line per
    unmet condition of each rule that could conclude it, read from explain's why-not."""
    lines = []
    for attempt in explain.why_not(kb, evaluation, code)["rules"]:
        if support is None or attempt.get("support") == support:
            lines.extend(_attempt_lines(attempt, depth=0))
    return lines


def _attempt_lines(attempt: dict, depth: int) -> list[str]:
    """One line per unmet pattern; for a fact no rule derived, the producing rules one level down."""
    lines = []
    for pattern in attempt["patterns"]:
        if pattern["state"] == conditions.TRUE:
            continue
        lines.append("  " * depth + f"{attempt['rule']['id']}: `{pattern['alias']}` {pattern['state']}: {_gap(pattern)}")
        if depth == 0 and not pattern.get("candidates"):
            for producer in pattern.get("producers", []):
                lines.extend(_attempt_lines(producer, depth + 1))
    return lines


def _gap(pattern: dict) -> str:
    """What keeps one pattern from matching: the closest candidate's failing tests, or what is missing."""
    if pattern.get("candidates"):
        best = pattern["candidates"][0]
        return f"{best['label']}: " + "; ".join(_failing(best["tests"]))
    missing = pattern.get("missing", {})
    text = missing.get("text", f"no {pattern['fact_type']} fact")
    if missing.get("inputs"):
        text += f" (settled by {', '.join(missing['inputs'])})"
    return text


def _failing(tests: list) -> list[str]:
    """The text of each test that did not hold, nested any-of groups included."""
    out = []
    for test in tests:
        if test["state"] == conditions.TRUE:
            continue
        if "any" in test:
            out.append("none of: " + " | ".join("; ".join(_failing(g["tests"])) for g in test["any"]))
            continue
        text = test["text"]
        if test.get("missing", {}).get("inputs"):
            text += f" (settled by {', '.join(test['missing']['inputs'])})"
        out.append(text)
    return out


def describe_tests(tests) -> str:
    """A rule's tests in one line, as lint quotes them (``bmd_g_cm2 >= 0.8, any of (...)``)."""
    parts = []
    for test in tests:
        if isinstance(test, conditions.AnyOf):
            parts.append("any of (" + " | ".join(describe_tests(g) for g in test.groups) + ")")
        elif test.op == "exists":
            parts.append(f"{test.field} {'recorded' if test.value else 'not recorded'}")
        else:
            value = list(test.value) if test.op == "in" else test.value
            parts.append(f"{test.field} {conditions.SYMBOL[test.op]} {value}")
    return ", ".join(parts)
