"""Rule tests: deriving cases, loading test files, expectations, per-rule results,
coverage, and the `bmdkb test` command (exit 0 / 1 / 2)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from authoring_kb import edit
from bmdkb.cli.main import cli
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.authoring import rule_tests
from bmdkb.engine.common.errors import KnowledgeBaseError
from bmdkb.engine.run.evaluate import Evaluator

REPO = Path(__file__).resolve().parent.parent
PAT_TESTS = "knowledge/rules/pattern/pattern.spine_up_hip_down.test.yaml"
CHK_TESTS = "knowledge/rules/check/check.fall_risk.considered.test.yaml"


def problems(call) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as info:
        call()
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------- deriving a case


def test_derive_case_sets_paths_creating_mappings_and_unsets_first(akb):
    case = rule_tests.derive_case(akb, {
        "case": "demo.yaml",
        "unset": ["treatment", "labs.pth_pg_ml", "scans[0].weight_kg"],
        "set": {"treatment.status": "naive", "scans[1].sites.total_hip.bmd_g_cm2": 0.700, "labs.pth_pg_ml": 70},
    })
    assert case["treatment"] == {"status": "naive"}            # removed, then rebuilt from the set path
    assert case["scans"][1]["sites"]["total_hip"] == {"bmd_g_cm2": 0.700, "t_score": -1.9, "side": "left"}
    assert case["labs"]["pth_pg_ml"] == 70
    assert "weight_kg" not in case["scans"][0] and case["scans"][1]["weight_kg"] == 60.2
    # the shipped file itself is untouched
    assert rule_tests.derive_case(akb, {"case": "demo.yaml"})["treatment"]["agent"] == "alendronate"


def test_derive_case_accepts_an_inline_case(akb):
    inline = {"case_id": "x", "scans": [{"date": "2024-01-01"}]}
    case = rule_tests.derive_case(akb, {"case": inline, "set": {"patient.sex": "male"}})
    assert case == {"case_id": "x", "scans": [{"date": "2024-01-01"}], "patient": {"sex": "male"}}
    assert "patient" not in inline


@pytest.mark.parametrize("spec,expected", [
    ({"set": {"scans[5].date": "2024-01-01"}}, "t.test.yaml: cases[3].set.scans[5].date: scans has 2 entries; there is no scans[5]"),
    ({"set": {"case_id.x": 1}}, "t.test.yaml: cases[3].set.case_id.x: case_id is not a mapping"),
    ({"set": {"risk.fracture_risk[0]": "high"}}, "t.test.yaml: cases[3].set.risk.fracture_risk[0]: risk.fracture_risk is not a list"),
    ({"set": {"labs.new_list[0]": 1}},
     "t.test.yaml: cases[3].set.labs.new_list[0]: labs.new_list is not in the case; a list cannot be created by index"),
    ({"set": {"scans..date": 1}},
     "t.test.yaml: cases[3].set.scans..date: 'scans..date' is not an input path (write it like scans[1].sites.total_hip.bmd_g_cm2)"),
    ({"unset": ["labs.ldl"]}, "t.test.yaml: cases[3].unset[0]: labs.ldl is not in the case: nothing to remove"),
    ({"unset": ["scans[2]"]}, "t.test.yaml: cases[3].unset[0]: scans[2] is not in the case: nothing to remove"),
    ({"unset": ["nothing.here"]}, "t.test.yaml: cases[3].unset[0]: nothing is not in the case"),
])
def test_derive_case_names_the_test_file_and_field_of_a_bad_path(akb, spec, expected):
    assert problems(lambda: rule_tests.derive_case(akb, dict(spec, case="demo.yaml"), "t.test.yaml", 3)) == [expected]


def test_derive_case_refuses_a_missing_or_outside_case_file(akb):
    assert problems(lambda: rule_tests.derive_case(akb, {"case": "nope.yaml"}, "t.test.yaml", 0)) == [
        "t.test.yaml: cases[0].case: no case file knowledge/cases/nope.yaml"]
    assert problems(lambda: rule_tests.derive_case(akb, {"case": "../kb.yaml"}, "t.test.yaml", 0)) == [
        "t.test.yaml: cases[0].case: '../kb.yaml' is not a file in knowledge/cases/"]


# ---------------------------------------------------------------- loading test files


def test_load_test_files_derives_every_case(akb):
    files = rule_tests.load_test_files(akb, kb=knowledge_base.load(akb))
    assert [(f.file, f.rule, len(f.cases)) for f in files] == [
        (CHK_TESTS, "check.fall_risk.considered", 2),
        ("knowledge/rules/measurement/measurement.significant_decrease.test.yaml", "measurement.significant_decrease", 2),
        ("knowledge/rules/measurement/measurement.significant_increase.test.yaml", "measurement.significant_increase", 1),
        (PAT_TESTS, "pattern.spine_up_hip_down", 1),
    ]
    fracture_risk_unknown = files[0].cases[0]
    assert "fracture_risk" not in fracture_risk_unknown.case["risk"]
    assert fracture_risk_unknown.key == f"{CHK_TESTS}::fracture risk not recorded"


def test_load_test_files_reports_every_problem_at_once(akb):
    kb = knowledge_base.load(akb)
    (akb / "knowledge/rules/pattern/pattern.other.test.yaml").write_text(
        "kind: rule-tests\nrule: pattern.spine_up_hip_down\ncases:\n"
        "  - {name: typo, case: demo.yaml, expect: {fires: [pattern.spine_up], absent: [check.fall_risk]}}\n"
        "  - {name: typo, case: demo.yaml, set: {'scans[1].sites.total_hip.bmd_g_cm2': 749}, expect: {absent: [check.fall_risk]}}\n"
        "  - {name: both ways, case: demo.yaml, expect: {fires: [check.fall_risk], absent: [check.fall_risk]}}\n")
    edit(akb / CHK_TESTS, "rule: check.fall_risk.considered", "rule: check.fall_risk.gone")
    edit(akb / PAT_TESTS, "    case: demo.yaml\n", "    case: demo.yaml\n    colour: red\n")
    assert problems(lambda: rule_tests.load_test_files(akb, kb=kb)) == [
        f"{CHK_TESTS}: rule: the file of rule 'check.fall_risk.gone''s tests must be named check.fall_risk.gone.test.yaml",
        f"{CHK_TESTS}: rule: no rule 'check.fall_risk.gone' in the knowledge base",
        "knowledge/rules/pattern/pattern.other.test.yaml: rule: the file of rule 'pattern.spine_up_hip_down''s tests "
        "must be named pattern.spine_up_hip_down.test.yaml",
        "knowledge/rules/pattern/pattern.other.test.yaml: cases[0].expect.fires[0]: no rule concludes 'pattern.spine_up'",
        "knowledge/rules/pattern/pattern.other.test.yaml: cases[1].name: another case is already named 'typo'",
        "knowledge/rules/pattern/pattern.other.test.yaml cases[1]: scans[1].sites.total_hip.bmd_g_cm2: 749 is outside "
        "the plausible range for BMD in g/cm2 (above 0, at most 2.5) (it looks like mg/cm2: give BMD in g/cm2, e.g. 0.912)",
        "knowledge/rules/pattern/pattern.other.test.yaml: cases[2].expect.absent: check.fall_risk is expected both to fire and to be absent",
        f"{PAT_TESTS}: cases[0].colour: unknown field (allowed: case, expect, name, set, skip, unset)",
    ]


# ---------------------------------------------------------------- running


def test_run_tallies_each_rule_and_covers_every_rule(akb):
    kb = knowledge_base.load(akb)
    run = rule_tests.run(kb, rule_tests.load_test_files(akb, kb=kb))
    assert run.ok(100)
    assert [o.passed for o in run.outcomes] == [True] * 6
    pattern = run.rules["pattern.spine_up_hip_down"]
    assert (pattern.as_expected, pattern.missed, pattern.unexpected) == (["spine up and hip down"], [], [])
    assert sorted(pattern.absent_in) == [
        "knowledge/rules/measurement/measurement.significant_decrease.test.yaml::hip unchanged",
        "knowledge/rules/measurement/measurement.significant_increase.test.yaml::spine unchanged"]
    assert len(pattern.fired_in) == 4 and pattern.covered
    assert run.coverage().percent == 100.0
    case = run.outcomes[0]
    assert case.conclusions == {"pattern.spine_up_hip_down": "considered", "check.fall_risk": "considered"}
    assert case.fired == {"measurement.significant_increase", "measurement.significant_decrease",
                          "pattern.spine_up_hip_down", "check.fall_risk.considered"}


def test_a_rule_never_absent_is_not_covered(akb):
    (akb / "knowledge/rules/measurement/measurement.significant_decrease.test.yaml").unlink()
    kb = knowledge_base.load(akb)
    run = rule_tests.run(kb, rule_tests.load_test_files(akb, kb=kb))
    assert run.coverage().uncovered == ["measurement.significant_decrease"]   # it fired in all 4 remaining cases
    assert run.coverage().percent == 75.0
    assert run.ok() and not run.ok(100)
    assert not run.rules["measurement.significant_decrease"].has_tests


def test_expectation_failures_and_per_rule_results(akb):
    (akb / CHK_TESTS).write_text(
        "kind: rule-tests\nrule: check.fall_risk.considered\ncases:\n"
        "  - {name: risk recorded, case: demo.yaml, expect: {fires: [check.fall_risk]}}\n"
        "  - {name: risk unknown, case: demo.yaml, unset: [risk.fracture_risk], expect: {absent: [check.fall_risk]}}\n"
        "  - {name: holds, case: demo.yaml, expect: {absent: [check.fall_risk]}}\n"
        "  - {name: skipped one, case: demo.yaml, skip: waiting for a rule, expect: {fires: [check.fall_risk]}}\n")
    edit(akb / PAT_TESTS, "{pattern.spine_up_hip_down: considered}", "{pattern.spine_up_hip_down: supported}")
    edit(akb / PAT_TESTS, "['measurement.significant_increase(f26)']", "[f1]")
    kb = knowledge_base.load(akb)
    run = rule_tests.run(kb, rule_tests.load_test_files(akb, kb=kb))
    failed = {o.test.name: [(f.kind, f.message) for f in o.failures] for o in run.failed}
    assert failed == {
        "risk recorded": [("missing", "check.fall_risk was expected but not concluded")],
        "risk unknown": [("unexpected", "check.fall_risk (considered) was concluded but expected absent")],
        "spine up and hip down": [
            ("support", "pattern.spine_up_hip_down is considered, expected supported"),
            ("because", "pattern.spine_up_hip_down's because lacks f1 (it is: measurement.significant_increase(f26), "
                        "measurement.significant_decrease(f27))")],
    }
    check = run.rules["check.fall_risk.considered"]
    assert (check.as_expected, check.missed, check.unexpected) == (["holds"], ["risk recorded"], ["risk unknown"])
    assert [o.skipped for o in run.outcomes[:4]] == [False, False, False, True]
    assert not run.ok()


def test_why_not_names_the_pattern_no_fact_satisfies(akb):
    kb = knowledge_base.load(akb)
    files = rule_tests.load_test_files(akb, kb=kb)
    high_risk = files[0].cases[1]
    evaluation = rule_tests.run(kb, files).outcomes[1].evaluation
    assert high_risk.name == "fracture risk recorded as high"
    assert rule_tests.why_not(kb, evaluation, "check.fall_risk") == [
        "check.fall_risk.considered: `risk` not satisfied: risk: none of: fracture_risk = unknown (it is high) | "
        "fracture_risk is not recorded (it is recorded: high)"]
    assert rule_tests.why_not(kb, evaluation, "check.fall_risk", "supported") == []
    no_hip = rule_tests.derive_case(akb, {"case": "demo.yaml", "unset": ["scans[1].sites.total_hip",
                                                                          "scans[1].sites.femoral_neck"]})
    evaluation = Evaluator(kb, now=rule_tests.TEST_NOW).evaluate(no_hip, "x", today=rule_tests.TEST_TODAY)
    assert rule_tests.why_not(kb, evaluation, "pattern.spine_up_hip_down") == [
        "pattern.spine_up_hip_down: `hip` not satisfied: no site trend with direction = decrease was derived",
        # one level down: why the rule that would derive it did not fire
        "  measurement.significant_decrease: `change` not satisfied: lumbar spine site change: lumbar spine absolute "
        "change +0.046 g/cm2 <= -1 LSC = -0.030 g/cm2 (+1.53 LSC); parameter significance_threshold_lsc × -1; "
        "region = hip (it is spine)"]


# ---------------------------------------------------------------- the command


def test_cli_passes_with_full_coverage(runner, akb):
    result = runner.invoke(cli, ["test", "--kb", str(akb), "--coverage", "--threshold", "100"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:] == [
        "rule                              as expected  missed  unexpected  fired in  absent in  covered",
        "measurement.significant_decrease            2       0           0         5          1  yes",
        "measurement.significant_increase            1       0           0         5          1  yes",
        "pattern.spine_up_hip_down                   1       0           0         4          2  yes",
        "check.fall_risk.considered                  2       0           0         1          5  yes",
        "6 cases in 4 test files: 6 passed, 0 failed, 0 skipped",
        "coverage: 4 of 4 rules fired in at least one case and were absent in at least one (100.0%)",
    ]


def test_cli_failing_expectation_prints_a_diff_and_why_not(runner, akb):
    edit(akb / CHK_TESTS, "      fires: [pattern.spine_up_hip_down]\n      absent: [check.fall_risk]",
         "      fires: [pattern.spine_up_hip_down, check.fall_risk]")
    edit(akb / PAT_TESTS, "{pattern.spine_up_hip_down: considered}", "{pattern.spine_up_hip_down: supported}")
    result = runner.invoke(cli, ["test", "--kb", str(akb)])
    assert result.exit_code == 3
    assert result.output == (
        f"FAIL {CHK_TESTS} cases[1] (fracture risk recorded as high)\n"
        "  - check.fall_risk   expected, not concluded\n"
        "    why not check.fall_risk:\n"
        "      check.fall_risk.considered: `risk` not satisfied: risk: none of: fracture_risk = unknown (it is high) | "
        "fracture_risk is not recorded (it is recorded: high)\n"
        f"FAIL {PAT_TESTS} cases[0] (spine up and hip down)\n"
        "  - pattern.spine_up_hip_down (supported)   expected\n"
        "  + pattern.spine_up_hip_down (considered)   concluded\n"
        "6 cases in 4 test files: 4 passed, 2 failed, 0 skipped\n")


def test_cli_coverage_below_threshold_exits_3(runner, akb):
    (akb / "knowledge/rules/measurement/measurement.significant_decrease.test.yaml").unlink()
    result = runner.invoke(cli, ["test", "--kb", str(akb), "--threshold", "90"])
    assert result.exit_code == 3
    assert result.output == (
        "4 cases in 3 test files: 4 passed, 0 failed, 0 skipped\n"
        "coverage: 3 of 4 rules fired in at least one case and were absent in at least one (75.0%)\n"
        "not covered: measurement.significant_decrease\n"
        "coverage 75.0% is below the threshold 90%\n")
    assert runner.invoke(cli, ["test", "--kb", str(akb), "--threshold", "75"]).exit_code == 0


def test_cli_paths_select_tests_and_scope_coverage(runner, akb):
    rule_file = akb / "knowledge/rules/check/check.fall_risk.considered.yaml"
    result = runner.invoke(cli, ["test", "--kb", str(akb), str(rule_file), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [c["name"] for c in doc["cases"]] == ["fracture risk not recorded", "fracture risk recorded as high"]
    assert doc["coverage"] == {"covered": 1, "total": 1, "percent": 100.0, "uncovered": []}
    assert doc["today"] == "2030-01-01" and doc["passed"] is True
    assert doc["cases"][0]["fired"] == ["measurement.significant_decrease", "measurement.significant_increase",
                                        "pattern.spine_up_hip_down", "check.fall_risk.considered"]


def test_cli_bad_test_file_exits_2_naming_file_and_field(runner, akb):
    edit(akb / PAT_TESTS, "    case: demo.yaml\n", "    case: demo.yaml\n    unset: [labs.ldl]\n")
    result = runner.invoke(cli, ["test", "--kb", str(akb)])
    assert result.exit_code == 2
    assert result.output == f"Error: {PAT_TESTS}: cases[0].unset[0]: labs.ldl is not in the case: nothing to remove\n"


def test_cli_missing_path_exits_2(runner, akb):
    (akb / "knowledge/rules/check/notes.txt").write_text("x")
    result = runner.invoke(cli, ["test", "--kb", str(akb), str(akb / "knowledge/rules/check/notes.txt")])
    assert result.exit_code == 2
    assert result.output == (f"Error: {akb}/knowledge/rules/check/notes.txt: no such test file or folder "
                             "(test files end in .test.yaml)\n")


# ---------------------------------------------------------------- the shipped knowledge base


def test_the_shipped_rule_tests_pass_with_full_coverage(runner):
    result = runner.invoke(cli, ["test", "--kb", str(REPO), "--coverage", "--threshold", "100"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith("(100.0%)")


def test_every_shipped_rule_has_its_tests_next_to_it(kb):
    files = rule_tests.load_test_files(REPO, kb=kb)
    assert sorted(f.rule for f in files) == sorted(kb.rules)
