"""The fuzz suite (hypothesis). Run it longer with one setting:

    BMDKB_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/test_fuzz.py

Two families of properties:

- **engine = floor on arbitrary decimals.** Generated cases (benchmarks/generate.py) whose
  BMD, LSC, weight, lab and age values are rewritten with 0-8 decimals, changes of a few
  units in the last place (so deltas like 0.00003 g/cm2, which Python writes 3e-05),
  changes of exactly one LSC and exponent-prone magnitudes: the engine fires the same rules
  as often, and concludes the same, as the plain-Python floor (benchmarks/floor.py). Any
  future hand-over bug between Python and durable_rules shows up here.
- **both rule engines agree** on the same arbitrary-decimal cases: durable_rules and CLIPS fire
  the same rules on the same facts in the same order and give the same result document.
- **the loader never fails as a defect.** Any generated YAML or JSON text (mutated cases,
  odd values and keys, YAML syntax soup) either evaluates (exit 0, the JSON result parses)
  or is refused with exit 2, nothing on stdout and a bounded message naming the file; never
  exit 1 or a traceback. `validate` agrees with `evaluate`.
"""
from __future__ import annotations

import json
import os
import random
import sys
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmdkb.cli.main import cli
from bmdkb.engine.common import limits

from conftest import DEMO_CASE, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import floor  # noqa: E402
import generate  # noqa: E402

EXAMPLES = int(os.environ.get("BMDKB_FUZZ_EXAMPLES", "40"))
fuzz = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _places(draw, low: Decimal, high: Decimal, most: int = 8) -> float:
    """A value in [low, high] written with 0..most decimals (at least as many as ``low`` needs)."""
    places = draw(st.integers(0, most))
    while (low * 10**places).to_integral_value(rounding="ROUND_CEILING") > (high * 10**places) // 1:
        places += 1
    n = draw(st.integers(int((low * 10**places).to_integral_value(rounding="ROUND_CEILING")), int(high * 10**places)))
    return float(Decimal(n).scaleb(-places))


@st.composite
def decimal_cases(draw):
    case = generate.generate_case(random.Random(draw(st.integers(0, 2**32 - 1))), "fuzz")
    lsc = case.get("facility", {}).get("lsc_g_cm2", {})
    for site in list(lsc):
        if draw(st.booleans()):
            lsc[site] = _places(draw, Decimal("0.00001"), Decimal("0.5"))
    scans = sorted(case["scans"], key=lambda s: s["date"])
    for before, after in zip(scans, scans[1:]):
        for site, m in after["sites"].items():
            if "bmd_g_cm2" not in m or site not in before["sites"]:
                continue
            b0 = Decimal(repr(before["sites"][site]["bmd_g_cm2"]))
            mode = draw(st.sampled_from(["keep", "last-place", "one-lsc", "any"]))
            if mode == "last-place":    # a change of a few units in the 3rd..8th decimal
                new = b0 + draw(st.integers(-9, 9)) * Decimal(1).scaleb(-draw(st.integers(3, 8)))
            elif mode == "one-lsc" and site in lsc:   # exactly at the threshold, or just off it
                new = b0 + draw(st.sampled_from([-1, 1])) * Decimal(repr(lsc[site])) \
                    + draw(st.sampled_from([0, 0, 1, -1])) * Decimal(1).scaleb(-draw(st.integers(5, 8)))
            elif mode == "any":
                new = Decimal(repr(_places(draw, Decimal("0.001"), Decimal("2.5"))))
            else:
                continue
            if Decimal(0) < new <= Decimal("2.5"):
                m["bmd_g_cm2"] = float(new)
        if "weight_kg" in before and "weight_kg" in after and draw(st.booleans()):
            w0 = Decimal(repr(before["weight_kg"]))
            after["weight_kg"] = float(w0 + draw(st.integers(-9, 9)) * Decimal(1).scaleb(-draw(st.integers(1, 8))))
    for name, high in (("vitamin_d_25oh_ng_ml", "500"), ("pth_pg_ml", "5000"), ("calcium_mg_dl", "30")):
        if draw(st.booleans()):
            if draw(st.booleans()):   # exponent-prone: Python writes these 1e-05, 3e-05, 1e-07
                value = float(draw(st.sampled_from(["0.00001", "0.00003", "1e-7", "0.0001", "5e-324"])))
            else:
                value = _places(draw, Decimal(0), Decimal(high))
            case.setdefault("labs", {})[name] = value
    if "patient" in case and draw(st.booleans()):
        case["patient"]["age_years"] = _places(draw, Decimal(0), Decimal(130))
    return case


@fuzz
@given(decimal_cases())
def test_engine_fires_what_the_floor_fires_on_cases_with_arbitrary_decimals(kb, evaluator, case):
    assert floor.Floor(kb).decide(case) == floor.engine_decisions(evaluator.evaluate(case, "fuzz"))


@pytest.fixture(scope="module")
def clips_evaluator(kb):
    from bmdkb.engine.run.evaluate import Evaluator
    return Evaluator(kb, engine="clips")


@fuzz
@given(decimal_cases())
def test_both_rule_engines_agree_on_cases_with_arbitrary_decimals(evaluator, clips_evaluator, case):
    """durable_rules and CLIPS: the same firings in the same order, the same facts, the same result."""
    from bmdkb.engine.run import engines
    assert engines.disagreement(evaluator.evaluate(case, "fuzz"), clips_evaluator.evaluate(case, "fuzz")) is None


# ---------------------------------------------------------------- the loader

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20), st.sampled_from(["2024-02-30", "2023-03-14", "", "female", "high", "L1-L4"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=20)
SOUP = ["&a ", "*a", "[", "]", "{", "}", ": ", "- ", ".nan", ".inf", "? ", "!!set ", "!!binary ", "<<: *a", "\n",
        "  ", ",", "\"", "'", "~", "1e5", "0x1F", "2023-03-14", "case_id: x\n", "NaN", "Infinity", "\t", "#"]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


@st.composite
def mutated_texts(draw):
    """(text, suffix): the demo case with a few values replaced by odd ones, as YAML or JSON; or soup."""
    if draw(st.integers(0, 4)) == 0:
        return "".join(draw(st.lists(st.sampled_from(SOUP), max_size=40))), draw(st.sampled_from([".yaml", ".json"]))
    case = yaml.safe_load(DEMO_CASE.read_text())
    case = json.loads(json.dumps(case, default=str))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(case))[1:]))
        *parent_path, last = path
        parent = case
        for part in parent_path:
            parent = parent[part]
        parent[last] = draw(values)
    if draw(st.booleans()):
        return json.dumps(case, allow_nan=True), ".json"
    return yaml.safe_dump(case, allow_unicode=True), ".yaml"


@fuzz
@given(mutated_texts())
def test_any_input_evaluates_or_is_refused_with_exit_2_and_a_bounded_message(runner, tmp_path, text_and_suffix):
    text, suffix = text_and_suffix
    path = tmp_path / f"case{suffix}"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(cli, ["evaluate", str(path), "--format", "json"])
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    if result.exit_code == 0:
        assert json.loads(result.stdout)["case_id"]
    else:
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert lines and all(line.startswith(f"Error: {path}") for line in lines[:limits.MAX_PROBLEMS])
        assert len(lines) <= limits.MAX_PROBLEMS + 1
        assert max(map(len, lines)) <= limits.MAX_MESSAGE_CHARS + 2 * limits.MAX_FIELD_CHARS + 20
    assert runner.invoke(cli, ["validate", str(path)]).exit_code == result.exit_code
