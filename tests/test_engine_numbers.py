"""Numbers handed to durable_rules are read as the doubles Python holds (engine/run/enginejson.py).

durable's C parser refuses an exponent without a decimal point (``3e-05``, what Python
writes for 0.00003): in a batch assert it dropped that fact and every later one, and the
run still succeeded."""
from __future__ import annotations

import json
import sys

import durable_rules_engine as _engine
import pytest

from bmdkb.engine.run import enginejson
from bmdkb.engine.adapters.dxa.adapter import read_case

from conftest import DEMO_CASE, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import floor  # noqa: E402

SINK = {"all": [{"a": {"$ex": {"id": 1}}}, {"n": {"type": "never"}}]}
TEXTS = ["3e-05", "2e+16", "5e-324", "1.5e-05", "0.00003", "-0.0", "0", "1234567890123456789",
         "0.30000000000000004", "1.7976931348623157e+308", "9007199254740993"]


def _read_back(handle, sid: str, text: str):
    """The ids of the facts the engine stored from a batch: one whose ``v`` is ``text``, then another."""
    result = _engine.assert_facts(handle, f'[{{"id":"a","sid":"{sid}","v":{text}}},{{"id":"b","sid":"{sid}"}}]')
    seen, started = [], _engine.start_action_for_state(handle, result[1])
    while started:
        seen.append(json.loads(started[1])["r"]["m"]["id"])  # facts, and the session's own state
        started = _engine.complete_and_start_action(handle, result[1])
        started = started and (None, started)
    if seen:   # no state exists when nothing was stored
        _engine.delete_state(handle, sid)
    return seen


def test_durable_drops_facts_after_an_exponent_without_a_point_and_the_encoding_avoids_it():
    handle = _engine.create_ruleset("numbers", json.dumps({"r": {"all": [{"m": {"$ex": {"id": 1}}}]}, "sink": SINK}))
    assert _read_back(handle, "1", "3e-05") == []          # the defect: both facts silently gone
    for i, text in enumerate(TEXTS, 2):
        value = json.loads(text)
        assert {"a", "b"} <= set(_read_back(handle, str(i), enginejson.number(value))), text
    _engine.delete_ruleset(handle)


@pytest.mark.parametrize("value", [3e-05, -3e-05, 2e16, 5e-324, 1e-05, 0.1 + 0.2, 0.001, 1.0, 1e300])
def test_thresholds_compare_exactly_in_the_engine(value):
    """A ruleset with the threshold in it compiles, and compares at the exact double."""
    below, above = value - abs(value) * 1e-15 - 5e-324, value + abs(value) * 1e-15 + 5e-324
    definition = {"lt": {"all": [{"m": {"$lt": {"v": value}}}]}, "eq": {"all": [{"m": {"v": value}}]}, "sink": SINK}
    handle = _engine.create_ruleset("thresholds", enginejson.dumps(definition))
    for sid, probe in enumerate((below, value, above), 1):
        result = _engine.assert_fact(handle, enginejson.dumps({"id": "a", "sid": str(sid), "v": probe}))
        fired = set()
        started = _engine.start_action_for_state(handle, result[1])
        while started:
            fired.update(json.loads(started[1]))
            started = _engine.complete_and_start_action(handle, result[1])
            started = started and (None, started)
        _engine.delete_state(handle, str(sid))
        assert fired == {r for r, ok in (("lt", probe < value), ("eq", probe == value)) if ok}, (value, probe)
    _engine.delete_ruleset(handle)


def test_the_encoding_is_the_json_of_the_same_numbers():
    for text in TEXTS:
        value = json.loads(text)
        assert json.loads(enginejson.number(value)) == value
        assert str(json.loads(enginejson.number(value))) == str(value)   # -0.0 keeps its sign
    record = {"id": "x\"1e5", "n": [1, 2.5e-07, True, None], "s": ",3e5"}
    assert json.loads(enginejson.dumps(record)) == record
    assert enginejson.dumps({"v": 0.5}) == '{"v":0.5}'
    with pytest.raises(ValueError):
        enginejson.dumps({"v": float("nan")})


def test_a_hip_change_of_three_hundred_thousandths_keeps_the_pattern(evaluator, kb):
    """The issue's case: total hip BMD given with five decimals, changed by 0.00003 g/cm2."""
    case = read_case(DEMO_CASE)
    case["scans"][1]["sites"]["total_hip"]["bmd_g_cm2"] = 0.78103
    case["scans"][1]["sites"]["femoral_neck"]["bmd_g_cm2"] = 0.600   # the neck now falls by > 1 LSC
    evaluation = evaluator.evaluate(case, "five-decimals.yaml")
    assert "pattern.spine_up_hip_down" in [c["code"] for c in evaluation.result["conclusions"]]
    assert floor.Floor(kb).decide(case) == floor.engine_decisions(evaluation)
