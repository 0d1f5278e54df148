"""The rule runtime: chaining, isolation between cases, faults reported with the rule id,
and agreement between the engine's matching and the explainer's condition evaluation."""
from __future__ import annotations

import copy
import json

import pytest

from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.adapters.dxa.adapter import read_case
from bmdkb.engine.run.compiler import compile_rule
from bmdkb.engine.kb.conditions import TRUE, evaluate
from bmdkb.engine.common.errors import RuleActionError
from bmdkb.engine.run.evaluate import Evaluator
from bmdkb.engine.run import runtime

from conftest import CASES, DEMO_CASE


def codes(evaluation):
    return [c["code"] for c in evaluation.result["conclusions"]]


def test_rules_chain_from_measurement_to_pattern(mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    evaluation = Evaluator(kb).evaluate(read_case(DEMO_CASE), "demo.yaml")
    fired = [f.rule for f in evaluation.firings]
    assert fired.count("measurement.significant_increase") == 1
    assert fired.count("measurement.significant_decrease") == 1  # total hip; the femoral neck is within its LSC
    assert codes(evaluation) == ["pattern.spine_up_hip_down"]
    pattern = evaluation.result["conclusions"][0]
    hip_trend = [b for b in pattern["because"] if b.startswith("measurement.significant_decrease")]
    assert len(hip_trend) == 1
    derived = next(f for f in evaluation.result["facts"] if f["id"] == hip_trend[0])
    assert derived["rule"] == "measurement.significant_decrease"
    assert derived["direction"] == "decrease" and derived["site"] == "total_hip"
    site_change = next(f for f in evaluation.result["facts"] if f["id"] == derived["because"][0])
    assert site_change["type"] == "site_change" and site_change["delta_g_cm2"] == -0.032


def test_unknown_is_not_false_and_exists_false_matches_absence(mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    evaluator = Evaluator(kb)
    case = read_case(DEMO_CASE)
    assert "check.fall_risk" not in codes(evaluator.evaluate(case, "demo.yaml"))  # fracture risk is recorded: high
    del case["risk"]["fracture_risk"]
    assert "check.fall_risk" in codes(evaluator.evaluate(case, "demo.yaml"))


def test_no_state_survives_between_cases(mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    evaluator = Evaluator(kb)
    pattern_case = read_case(DEMO_CASE)
    quiet = copy.deepcopy(pattern_case)
    quiet["scans"][1]["sites"]["total_hip"]["bmd_g_cm2"] = 0.781  # no hip decrease
    first = json.dumps(evaluator.evaluate(pattern_case, "a").result)
    assert codes(evaluator.evaluate(quiet, "b")) == []
    assert json.dumps(evaluator.evaluate(pattern_case, "a").result) == first
    assert codes(evaluator.evaluate(quiet, "b")) == []


def test_many_cases_beyond_the_engine_session_limit(mini_kb_root):
    # durable_rules holds at most 1,024 live sessions per ruleset: states must be deleted.
    # A leaked session would raise past the limit or leave facts behind that change later results.
    evaluator = Evaluator(knowledge_base.load(mini_kb_root))
    case = read_case(DEMO_CASE)
    first = json.dumps(evaluator.evaluate(case, "demo.yaml").result, sort_keys=True)
    assert json.loads(first)["conclusions"]  # the demo concludes something, so a change would show
    for i in range(1500):
        assert json.dumps(evaluator.evaluate(case, "demo.yaml").result, sort_keys=True) == first, f"case {i}"


def test_a_failing_action_is_reported_with_the_rule_id(mini_kb_root, monkeypatch):
    kb = knowledge_base.load(mini_kb_root)
    real = runtime._producer

    def broken(rule):
        if rule.id == "pattern.spine_up_hip_down":
            def boom(matched):
                raise ZeroDivisionError("division by zero")
            return boom
        return real(rule)

    monkeypatch.setattr(runtime, "_producer", broken)
    evaluator = Evaluator(kb)
    with pytest.raises(RuleActionError) as info:
        evaluator.evaluate(read_case(DEMO_CASE), "demo.yaml")
    assert str(info.value) == ("knowledge/rules/pattern/pattern.spine_up_hip_down.yaml: rule "
                               "pattern.spine_up_hip_down failed while running: ZeroDivisionError: division by zero")
    assert info.value.exit_code == 1


def test_compiled_conditions_are_plain_durable_rules_data(mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    rule = kb.rules["check.fall_risk.considered"]
    assert compile_rule(rule, 6) == {
        "all": [
            {"conclusion": {"$and": [{"type": "conclusion"}, {"code": "pattern.spine_up_hip_down"}]}},
            {"risk": {"$and": [{"type": "risk"}, {"$or": [{"$and": [{"fracture_risk": "unknown"}]},
                                                           {"$and": [{"$nex": {"fracture_risk": 1}}]}]}]}},
        ],
        "pri": 6,
    }
    decrease = compile_rule(kb.rules["measurement.significant_decrease"], 1)
    assert decrease["all"][0]["change"]["$and"][2] == {"$lte": {"change_in_lsc": -1}}


def test_engine_and_condition_evaluator_agree_on_every_shipped_case(kb, evaluator):
    """Explanations re-evaluate conditions in Python; they must match what the engine fired."""
    for path in sorted(CASES.glob("*.yaml")):
        evaluation = evaluator.evaluate(read_case(path), path.name)
        facts = evaluation.facts + evaluation.asserted
        fired = {f.rule for f in evaluation.firings}
        for rule in kb.rules.values():
            matches = all(any(f.type == p.fact and evaluate(p.tests, f.fields) == TRUE for f in facts)
                          for p in rule.patterns)
            assert matches == (rule.id in fired), f"{path.name}: {rule.id}"
