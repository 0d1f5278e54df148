"""`bmdkb explain`: why a conclusion fired, why another did not, back to the source sentence."""
from __future__ import annotations

import copy
import json
import re
import shutil

import pytest

from bmdkb.cli.render import explanation as explain_render
from bmdkb.cli.main import cli
from bmdkb.engine.explain import explainer as engine_explain
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.kb import schemas
from bmdkb.engine.adapters.dxa.adapter import read_case
from bmdkb.engine.run.evaluate import Evaluator
from bmdkb.engine.review.governance import RuleStatus

from conftest import CASES, DEMO_CASE

PATTERN = "pattern.spine_up_hip_down"
REPR = re.compile(r"\{'|\[\{|\bNone\b|<[A-Za-z_]|object at 0x|\[i\]")


def write_case(tmp_path, case: dict, name: str = "case.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(case), encoding="utf-8")
    return str(path)


def demo() -> dict:
    return copy.deepcopy(read_case(DEMO_CASE))


def explain_cli(runner, *args):
    return runner.invoke(cli, ["explain", *args])


# --- why -----------------------------------------------------------------------------------------

DEMO_WHY = """\
Explanation for case demo-001: pattern.spine_up_hip_down
========================================================
Knowledge base bmdkb-discordant-bmd 1.0.0; case file demo-case.yaml

Why pattern.spine_up_hip_down (pattern, considered)
The spine rose and the hip fell significantly.
Rule pattern.spine_up_hip_down v1 “Spine up, hip down”, status draft (pending editorial review)
It matched:
  ✓ spine: lumbar spine site trend
    ✓ most recent interval
    ✓ site = lumbar_spine
    ✓ direction = increase
    derived by rule measurement.significant_increase v1 “A change of at least one LSC upward is a
      significant decrease” (draft) from:
      ✓ change: lumbar spine site change
        ✓ comparable = true
        ✓ lumbar spine absolute change +0.046 g/cm2 >= +1 LSC = +0.030 g/cm2 (+1.53 LSC); parameter
            significance_threshold_lsc
        lumbar spine site change, computed from:
          scans[0].sites.lumbar_spine: bmd_g_cm2 = 0.912, t_score = -1.4, region = L1-L4 (read as
            region l1-l4)
          scans[1].sites.lumbar_spine: bmd_g_cm2 = 0.958, t_score = -1.0, region = L1-L4 (read as
            region l1-l4)
          scans[0]: date = 2023-03-14, scanner.manufacturer = Hologic (read as manufacturer
            hologic), scanner.model = Horizon A (read as model horizon a), scanner.id = DXA-1 (read
            as scanner_id dxa-1), weight_kg = 61.0
          scans[1]: date = 2025-03-20, scanner.manufacturer = Hologic (read as manufacturer
            hologic), scanner.model = Horizon A (read as model horizon a), scanner.id = DXA-1 (read
            as scanner_id dxa-1), weight_kg = 60.2
          facility.lsc_g_cm2.lumbar_spine = 0.030
      Source:
        “Ensure changes exceed the LSC for your facility” (discordant-bmd-article, “Common Pitfalls
          to Avoid”; verified)
  ✓ hip: total hip site trend
    ✓ most recent interval
    ✓ region = hip
    ✓ direction = decrease
    derived by rule measurement.significant_decrease v1 “A change of at least one LSC downward is a
      significant decrease” (draft) from:
      ✓ change: total hip site change
        ✓ comparable = true
        ✓ total hip absolute change -0.032 g/cm2 <= -1 LSC = -0.025 g/cm2 (-1.28 LSC); parameter
            significance_threshold_lsc × -1
        total hip site change, computed from:
          scans[0].sites.total_hip: bmd_g_cm2 = 0.781, t_score = -1.6, side = left
          scans[1].sites.total_hip: bmd_g_cm2 = 0.749, t_score = -1.9, side = left
          scans[0]: date = 2023-03-14, scanner.manufacturer = Hologic (read as manufacturer
            hologic), scanner.model = Horizon A (read as model horizon a), scanner.id = DXA-1 (read
            as scanner_id dxa-1), weight_kg = 61.0
          scans[1]: date = 2025-03-20, scanner.manufacturer = Hologic (read as manufacturer
            hologic), scanner.model = Horizon A (read as model horizon a), scanner.id = DXA-1 (read
            as scanner_id dxa-1), weight_kg = 60.2
          facility.lsc_g_cm2.total_hip = 0.025
      Source:
        “Ensure changes exceed the LSC for your facility” (discordant-bmd-article, “Common Pitfalls
          to Avoid”; verified)
Source:
  “this likely indicates a differential response to treatment” (discordant-bmd-article, “Opening
    paragraph”; verified)

Source discordant-bmd-article: Interpreting Discordant BMD Results: Spine Improvement with Hip
  Decrease. Quotes marked verified were found verbatim in its registered text.
"""


def test_why_tree_on_the_demo_case(runner, mini_kb_root, monkeypatch):
    monkeypatch.chdir(DEMO_CASE.parent)  # the case file is named as given; keep it short
    result = explain_cli(runner, "--kb", str(mini_kb_root), DEMO_CASE.name, PATTERN)
    assert result.exit_code == 0, result.output
    assert result.output == DEMO_WHY


def test_why_document_reaches_input_paths_and_resolves_parameters(mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    evaluation = Evaluator(kb).evaluate(read_case(DEMO_CASE), str(DEMO_CASE))
    tree = engine_explain.why(kb, evaluation, PATTERN)
    hip = tree["matches"][0]["conditions"][1]
    assert (hip["alias"], hip["fact_type"], hip["state"]) == ("hip", "site_trend", "satisfied")
    derived = hip["basis"]
    assert derived["node"] == "derived" and derived["rule"]["id"] == "measurement.significant_decrease"
    change_test = derived["match"]["conditions"][0]["tests"][1]
    assert change_test["field"] == "change_in_lsc" and change_test["op"] == "lte"
    assert change_test["expected"] == -1 and change_test["actual"] == pytest.approx(-1.28)
    assert change_test["parameter"] == {"name": "significance_threshold_lsc", "value": 1, "times": -1,
                                        "unit": "LSC", "provenance": "cited"}
    computed = derived["match"]["conditions"][0]["basis"]
    assert computed["node"] == "computed" and computed["fields"]["delta_g_cm2"] == pytest.approx(-0.032)
    paths = {e["path"]: e["value"] for leaf in computed["from"] for e in leaf["inputs"]}
    assert paths["scans[1].sites.total_hip.bmd_g_cm2"] == 0.749
    assert paths["scans[0].sites.total_hip.bmd_g_cm2"] == 0.781
    assert paths["facility.lsc_g_cm2.total_hip"] == 0.025
    assert "scans[0]" not in paths  # the scan's position is not an input value
    citation = tree["citations"][0]
    assert citation["verified"] is True and citation["section"] == "Opening paragraph"


def test_the_case_order_in_the_file_is_kept_in_input_paths(tmp_path, mini_kb_root):
    case = demo()
    case["scans"].reverse()  # the latest scan first: positions in the file, not in date order
    kb = knowledge_base.load(mini_kb_root)
    evaluation = Evaluator(kb).evaluate(case, "reversed.json")
    tree = engine_explain.why(kb, evaluation, PATTERN)
    computed = tree["matches"][0]["conditions"][1]["basis"]["match"]["conditions"][0]["basis"]
    paths = {e["path"]: e["value"] for leaf in computed["from"] for e in leaf["inputs"]}
    assert paths["scans[0].sites.total_hip.bmd_g_cm2"] == 0.749  # the later scan is scans[0] here
    assert paths["scans[1].sites.total_hip.bmd_g_cm2"] == 0.781


def test_a_conclusion_resting_on_a_conclusion_is_explained_recursively(tmp_path, mini_kb_root):
    case = demo()
    case["risk"]["fracture_risk"] = "unknown"
    kb = knowledge_base.load(mini_kb_root)
    evaluation = Evaluator(kb).evaluate(case, "case.json")
    tree = engine_explain.why(kb, evaluation, "check.fall_risk")
    conclusion, risk = tree["matches"][0]["conditions"]
    assert conclusion["basis"]["node"] == "conclusion" and conclusion["basis"]["code"] == PATTERN
    assert risk["basis"] == {"node": "input", "fact": risk["fact"], "type": "risk", "label": "risk",
                             "inputs": [{"field": "fracture_risk", "path": "risk.fracture_risk", "value": "unknown",
                                         "recorded": True, "shown": "unknown"}]}
    any_test = risk["tests"][0]
    assert any_test["state"] == "satisfied"
    assert [g["state"] for g in any_test["any"]] == ["satisfied", "not satisfied"]


def test_a_rule_matching_an_absent_field_points_at_the_unrecorded_input(tmp_path, mini_kb_root, runner):
    case = demo()
    del case["risk"]["fracture_risk"]
    path = write_case(tmp_path, case)
    result = explain_cli(runner, "--kb", str(mini_kb_root), path, "check.fall_risk")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "    ✓ at least one of:" in lines
    assert ("      ? fracture_risk = unknown (not recorded); unknown: the case does not record "
            "risk.fracture_risk") in lines
    assert "      ✓ fracture_risk is not recorded" in lines
    assert "      risk.fracture_risk: not recorded" in lines


# --- why not -------------------------------------------------------------------------------------

def near_miss_case() -> dict:
    case = demo()
    case["scans"][1]["sites"]["total_hip"]["bmd_g_cm2"] = 0.760  # -0.021 g/cm2 against an LSC of 0.025
    return case


def test_why_not_names_the_failing_condition_and_its_value(tmp_path, mini_kb_root, runner):
    path = write_case(tmp_path, near_miss_case())
    result = explain_cli(runner, "--kb", str(mini_kb_root), path, PATTERN, "--why-not")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "pattern.spine_up_hip_down was not concluded for this case. 1 rule could have concluded it." in out
    assert ("✗ rule pattern.spine_up_hip_down v1 (concludes pattern.spine_up_hip_down, considered): "
            "not satisfied") in out
    assert "  ✓ spine: lumbar spine site trend\n" in out
    assert "  ✗ hip: no site trend with direction = decrease was derived\n" in out
    assert "      ✗ rule measurement.significant_decrease v1 (derives site trend facts): not satisfied" in out
    assert "          (the later rule also needs: most recent interval; region = hip)" in out
    assert ("            ✗ total hip absolute change -0.021 g/cm2 <= -1 LSC = -0.025 g/cm2 (-0.84 LSC); parameter\n"
            "                significance_threshold_lsc × -1") in out
    assert "            ✗ femoral neck absolute change -0.010 g/cm2 <= -1 LSC = -0.035 g/cm2 (-0.29 LSC);" in out
    assert "unknown" not in out.split("Why not")[1]  # everything was recorded: nothing is unknown


def test_why_not_document_for_a_near_miss(tmp_path, mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    evaluation = Evaluator(kb).evaluate(near_miss_case(), "near-miss.json")
    doc = engine_explain.why_not(kb, evaluation, PATTERN)
    assert doc["fired"] is False and [a["rule"]["id"] for a in doc["rules"]] == [PATTERN]
    hip = doc["rules"][0]["patterns"][1]
    assert hip["state"] == "not satisfied"
    assert hip["missing"]["text"] == "no site trend with direction = decrease was derived"
    producer = hip["producers"][0]
    assert producer["rule"]["id"] == "measurement.significant_decrease" and producer["state"] == "not satisfied"
    candidates = producer["patterns"][0]["candidates"]
    assert [c["label"] for c in candidates] == ["total hip site change", "femoral neck site change"]
    failing = [t for t in candidates[0]["tests"] if t["state"] != "satisfied"]
    assert [(t["field"], t["state"], round(t["actual"], 2)) for t in failing] == [
        ("change_in_lsc", "not satisfied", -0.84)]


def test_missing_data_is_unknown_and_names_the_field_that_would_settle_it(tmp_path, mini_kb_root, runner):
    case = demo()
    del case["facility"]["lsc_g_cm2"]["total_hip"]
    case["scans"][1]["sites"]["femoral_neck"]["bmd_g_cm2"] = 0.600  # no help from the femoral neck either
    case["scans"][1]["sites"]["femoral_neck"]["side"] = "right"
    path = write_case(tmp_path, case)
    result = explain_cli(runner, "--kb", str(mini_kb_root), path, PATTERN)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "? rule pattern.spine_up_hip_down v1 (concludes pattern.spine_up_hip_down, considered): unknown" in out
    assert "  ? hip: no site trend with direction = decrease was derived" in out
    assert ("            ? total hip absolute change -0.032 g/cm2 <= -1 LSC (facility LSC not recorded);\n"
            "                parameter significance_threshold_lsc × -1; unknown: the case does not record\n"
            "                facility.lsc_g_cm2.total_hip\n") in out
    assert "          ✗ femoral neck site change\n            ✗ comparable = true (it is false)\n" in out
    assert "total hip absolute change -0.032 g/cm2 <= -1 LSC = " not in out  # not computed against a made-up LSC

    document = json.loads(explain_cli(runner, "--kb", str(mini_kb_root), path, PATTERN, "--format", "json").output)
    producer = document["why_not"]["rules"][0]["patterns"][1]["producers"][0]
    total_hip = producer["patterns"][0]["candidates"][0]
    assert total_hip["label"] == "total hip site change" and total_hip["state"] == "unknown"
    unknown = [t for t in total_hip["tests"] if t["state"] == "unknown"]
    assert unknown == [{
        "field": "change_in_lsc", "op": "lte", "expected": -1, "state": "unknown",
        "text": "total hip absolute change -0.032 g/cm2 <= -1 LSC (facility LSC not recorded); "
                "parameter significance_threshold_lsc × -1",
        "parameter": {"name": "significance_threshold_lsc", "value": 1, "times": -1, "unit": "LSC",
                      "provenance": "cited"},
        "unit": "LSC", "missing": {"field": "change_in_lsc", "inputs": ["facility.lsc_g_cm2.total_hip"]}}]


def potent_agent_rule(root):
    """A rule testing a field a case may leave out (fracture risk), added to the mini KB."""
    (root / "knowledge/rules/treatment").mkdir()
    (root / "knowledge/rules/treatment/treatment.consider_potent_agent.yaml").write_text("""\
id: treatment.consider_potent_agent
version: 1
title: High fracture risk
kind: treatment
author: Test Author
when:
  - fact: conclusion
    where: {code: pattern.spine_up_hip_down}
  - fact: risk
    where: {fracture_risk: {in: [high, very_high]}}
then:
  conclude: {code: treatment.consider_potent_agent}
statement: {clinician: Consider a more potent agent., patient: A stronger medicine may help you.}
citations:
  - {source: discordant-bmd-article, section: Treatment Considerations, quote: "Consider more potent agents", references: [3]}
""", encoding="utf-8")


def test_an_unrecorded_input_is_unknown_not_false(tmp_path, mini_kb_root, runner):
    potent_agent_rule(mini_kb_root)
    case = demo()
    del case["risk"]
    path = write_case(tmp_path, case)
    result = explain_cli(runner, "--kb", str(mini_kb_root), path, "treatment.consider_potent_agent")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  ? risk: risk" in lines
    assert "    ? fracture_risk is one of high, very_high (not recorded); unknown: the case does not record" in lines
    assert "        risk.fracture_risk" in lines
    assert "✗" not in result.output.split("Why not")[1]

    recorded_low = demo()
    recorded_low["risk"]["fracture_risk"] = "low"
    output = explain_cli(runner, "--kb", str(mini_kb_root), write_case(tmp_path, recorded_low, "low.json"),
                         "treatment.consider_potent_agent").output
    assert "    ✗ fracture_risk is one of high, very_high (it is low)" in output.splitlines()


def test_a_finding_not_assessed_names_its_input_field(tmp_path, mini_kb_root):
    (mini_kb_root / "knowledge/rules/evidence").mkdir()
    (mini_kb_root / "knowledge/rules/evidence/evidence.degenerative_spine_changes.yaml").write_text("""\
id: evidence.degenerative_spine_changes
version: 1
title: Degenerative changes back the spine artefact explanation
kind: evidence
author: Test Author
when:
  - fact: finding
    where: {name: degenerative_spine_changes, value: true}
then:
  assert: {type: evidence, from: finding, copy: [name], set: {supports: hypothesis.spine_artifact, label: degenerative changes}}
statement: {clinician: Degenerative changes are recorded.}
citations:
  - {source: discordant-bmd-article, section: Possible Explanations for This Pattern, quote: "Spine BMD can be artificially elevated by degenerative changes"}
""", encoding="utf-8")
    (mini_kb_root / "knowledge/rules/hypothesis").mkdir()
    (mini_kb_root / "knowledge/rules/hypothesis/hypothesis.spine_artifact.supported.yaml").write_text("""\
id: hypothesis.spine_artifact.supported
version: 1
title: Spine artefact is backed by a recorded finding
kind: hypothesis
author: Test Author
when:
  - fact: conclusion
    where: {code: pattern.spine_up_hip_down}
  - fact: evidence
    where: {supports: hypothesis.spine_artifact}
then:
  conclude: {code: hypothesis.spine_artifact, support: supported}
statement: {clinician: The spine gain may be artefact., patient: Part of the spine gain may not be real.}
citations:
  - {source: discordant-bmd-article, section: Possible Explanations for This Pattern, quote: "Spine BMD can be artificially elevated by degenerative changes"}
""", encoding="utf-8")
    kb = knowledge_base.load(mini_kb_root)
    case = demo()
    del case["findings"]["degenerative_spine_changes"]
    doc = engine_explain.why_not(kb, Evaluator(kb).evaluate(case, "case.json"), "hypothesis.spine_artifact")
    evidence = doc["rules"][0]["patterns"][1]
    assert evidence["state"] == "unknown"
    assert evidence["missing"] == {"text": "no evidence with supports = hypothesis.spine_artifact was derived"}
    finding = evidence["producers"][0]["patterns"][0]
    assert finding["state"] == "unknown" and "candidates" in finding and finding["candidates"] == []
    assert finding["missing"] == {"text": "the case gives no finding with name = degenerative_spine_changes",
                                  "inputs": ["findings.degenerative_spine_changes"]}

    recorded_false = demo()  # the demo records the finding as false: that is not satisfied, not unknown
    doc = engine_explain.why_not(kb, Evaluator(kb).evaluate(recorded_false, "case.json"), "hypothesis.spine_artifact")
    finding = doc["rules"][0]["patterns"][1]["producers"][0]["patterns"][0]
    assert finding["state"] == "not satisfied"
    assert [t["text"] for t in finding["candidates"][0]["tests"]] == [
        "finding name = degenerative_spine_changes", "value = true (it is false)"]


def test_why_not_on_a_code_that_fired_says_so_and_shows_the_why(mini_kb_root, runner, tmp_path):
    # The header names the case file as given, and a long path wraps onto more lines: so the case
    # sits under a deliberately long path with spaces, and lines are found by content, not position.
    case = tmp_path / ("a folder name long enough to wrap " * 3).strip() / "and one more with spaces" / "demo.yaml"
    case.parent.mkdir(parents=True)
    shutil.copy(DEMO_CASE, case)
    result = explain_cli(runner, "--kb", str(mini_kb_root), str(case), PATTERN, "--why-not")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    said = lines.index("pattern.spine_up_hip_down was concluded for this case, so here is why it was.")
    assert said >= 3 and lines[said + 1] == "" and lines[said + 2] == "Why pattern.spine_up_hip_down (pattern, considered)"
    assert lines[2].startswith("Knowledge base ")
    assert " ".join(line.strip() for line in lines[2:said]).endswith(f"case file {case}")  # wrapped, not cut
    document = json.loads(explain_cli(runner, "--kb", str(mini_kb_root), str(case), PATTERN, "--why-not",
                                      "--format", "json").output)
    assert document["asked"] == "why-not" and document["fired"] is True
    assert document["why"]["code"] == PATTERN and document["why_not"]["rules"] == []


def test_why_not_on_a_code_that_fired_shows_stronger_rules_that_did_not(mini_kb_root):
    """Our choice: a code concluded as `considered` also tells why its `supported` rule did not fire."""
    kb_root = mini_kb_root
    (kb_root / "knowledge/rules/check/check.fall_risk.supported.yaml").write_text("""\
id: check.fall_risk.supported
version: 1
title: Review fall risk, falls recorded
kind: check
author: Test Author
when:
  - fact: conclusion
    where: {code: pattern.spine_up_hip_down}
  - fact: risk
    where: {falls_past_year: {gte: 1}}
then:
  conclude: {code: check.fall_risk, support: supported}
statement: {clinician: Falls are recorded; review fall risk., patient: You have fallen. Ask about ways to avoid falls.}
citations:
  - {source: discordant-bmd-article, section: Recommended Next Steps, quote: "Review fall risk factors"}
""", encoding="utf-8")
    kb = knowledge_base.load(kb_root)
    case = demo()
    case["risk"] = {"fracture_risk": "unknown", "falls_past_year": 0}
    evaluation = Evaluator(kb).evaluate(case, "case.json")
    doc = engine_explain.explain(kb, evaluation, "check.fall_risk", why_not=True)
    assert doc["fired"] is True and doc["why"]["rule"]["id"] == "check.fall_risk.considered"
    [attempt] = doc["why_not"]["rules"]
    assert attempt["rule"]["id"] == "check.fall_risk.supported" and attempt["state"] == "not satisfied"
    text = explain_render.text(doc)
    assert "Rules for check.fall_risk with stronger support that did not fire" in text
    assert "    ✗ falls in the past year 0 >= 1" in text.splitlines()


def test_a_code_that_did_not_fire_gets_its_why_not_without_the_flag(mini_kb_root, runner):
    result = explain_cli(runner, "--kb", str(mini_kb_root), str(DEMO_CASE), "check.fall_risk")
    assert result.exit_code == 0, result.output
    assert "check.fall_risk was not concluded for this case. 1 rule could have concluded it." in result.output
    assert "      ✗ fracture_risk = unknown (it is high)" in result.output.splitlines()
    assert "      ✗ fracture_risk is not recorded (it is recorded: high)" in result.output.splitlines()


def test_an_unknown_code_is_exit_2_listing_the_known_codes(mini_kb_root, runner):
    result = explain_cli(runner, "--kb", str(mini_kb_root), str(DEMO_CASE), "pattern.hip_up")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == ("Error: unknown conclusion code 'pattern.hip_up'; known codes: check.fall_risk, "
                             "pattern.spine_up_hip_down\n")
    with pytest.raises(engine_explain.UnknownCodeError):
        kb = knowledge_base.load(mini_kb_root)
        engine_explain.why_not(kb, Evaluator(kb).evaluate(demo(), "case.json"), "pattern.hip_up")


def test_a_bad_case_is_exit_2_and_why_refuses_a_code_that_did_not_fire(tmp_path, mini_kb_root, runner):
    case = demo()
    case["scans"][1]["sites"]["total_hip"]["bmd_g_cm2"] = 749
    result = explain_cli(runner, "--kb", str(mini_kb_root), write_case(tmp_path, case), PATTERN)
    assert result.exit_code == 2 and result.stdout == ""
    assert "scans[1].sites.total_hip.bmd_g_cm2" in result.stderr
    kb = knowledge_base.load(mini_kb_root)
    with pytest.raises(engine_explain.NotConcludedError, match="check.fall_risk was not concluded for case demo-001"):
        engine_explain.why(kb, Evaluator(kb).evaluate(demo(), "case.json"), "check.fall_risk")


# --- other forms ---------------------------------------------------------------------------------

def test_json_form_validates_against_the_schema(tmp_path, mini_kb_root, runner):
    cases = [str(DEMO_CASE), write_case(tmp_path, near_miss_case(), "near.json")]
    for case in cases:
        for code in ("check.fall_risk", PATTERN):
            for extra in ([], ["--why-not"]):
                result = explain_cli(runner, "--kb", str(mini_kb_root), case, code, "--format", "json", *extra)
                assert result.exit_code == 0, result.output
                document = json.loads(result.output)
                assert schemas.problems("explanation", document, "explanation") == []
    broken = json.loads(explain_cli(runner, "--kb", str(mini_kb_root), str(DEMO_CASE), PATTERN, "--format",
                                    "json").output)
    del broken["why"]["matches"][0]["conditions"][0]["basis"]["match"]["conditions"][0]["basis"]["from"][0]["inputs"]
    assert schemas.problems("explanation", broken, "explanation") != []  # the schema can fail


def test_markdown_form_is_a_note_to_paste(mini_kb_root, runner):
    result = explain_cli(runner, "--kb", str(mini_kb_root), str(DEMO_CASE), PATTERN, "--format", "markdown")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "### Explanation for case demo-001: `pattern.spine_up_hip_down`"
    assert "**Why `pattern.spine_up_hip_down` (pattern, considered)**" in lines
    assert "- *The spine rose and the hip fell significantly.*" in lines
    assert ("        - ✓ total hip absolute change -0.032 g/cm2 &lt;= -1 LSC = -0.025 g/cm2 (-1.28 LSC); "
            "parameter significance_threshold_lsc × -1") in lines
    assert "          - `scans[1].sites.total_hip`: `bmd_g_cm2` = 0.749, `t_score` = -1.9, `side` = left" in lines
    assert ("  - > “this likely indicates a differential response to treatment” (`discordant-bmd-article`, "
            "“Opening paragraph”; verified)") in lines


def test_patient_audience_uses_the_patient_wording(mini_kb_root, runner):
    result = explain_cli(runner, "--kb", str(mini_kb_root), str(DEMO_CASE), PATTERN, "--audience", "patient")
    assert result.exit_code == 0, result.output
    assert "Your spine got stronger but your hip got weaker." in result.output.splitlines()
    assert "The spine rose and the hip fell significantly." not in result.output


def test_rule_status_shows_who_approved_and_when(mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    statuses = {rule_id: RuleStatus("submitted", False) for rule_id in kb.rules}
    statuses[PATTERN] = RuleStatus("approved", True, None, {
        "label": "approved", "approvals": [{"by": "Dr A. Reviewer", "time": "2025-06-02T10:00:00Z", "coi": "none",
                                            "review_by": "2026-06-02", "seq": 4}]})
    evaluation = Evaluator(kb).evaluate(demo(), "case.json")
    doc = engine_explain.explain(kb, evaluation, PATTERN, statuses=statuses)
    assert doc["why"]["rule"]["status"] == "approved"
    assert doc["why"]["rule"]["approvals"] == [{"by": "Dr A. Reviewer", "time": "2025-06-02T10:00:00Z",
                                                "review_by": "2026-06-02"}]
    lines = explain_render.text(doc).splitlines()
    assert "Approved by: Dr A. Reviewer on 2025-06-02" in lines


def test_references_are_resolved_or_said_to_be_unresolved(mini_kb_root):
    potent_agent_rule(mini_kb_root)
    rule_file = mini_kb_root / "knowledge/rules/treatment/treatment.consider_potent_agent.yaml"
    rule_file.write_text(rule_file.read_text().replace("references: [3]", "references: [2, 3]"))
    (mini_kb_root / "provenance/references.yaml").write_text("""\
kind: references
version: 1
source: discordant-bmd-article
references:
  - {number: 1, status: unresolved, reason: never listed}
  - number: 2
    status: resolved
    record: {authors: [Stone KL, Seeley DG, Lui LY, Cauley JA], title: BMD at multiple sites and risk of fracture.,
             journal: J Bone Miner Res, year: 2003, volume: '18', issue: '11', pages: 1947-1954,
             doi: 10.1359/jbmr.2003.18.11.1947}
  - {number: 3, status: unresolved, reason: "the publisher's own topic overview, not a guideline"}
""", encoding="utf-8")
    kb = knowledge_base.load(mini_kb_root)
    evaluation = Evaluator(kb).evaluate(demo(), "case.json")
    doc = engine_explain.explain(kb, evaluation, "treatment.consider_potent_agent")
    [citation] = doc["why"]["citations"]
    assert citation["verified"] is True
    resolved, unresolved = citation["references"]
    assert resolved["status"] == "resolved" and resolved["record"]["year"] == 2003
    assert resolved["citation"] == ("Stone KL, Seeley DG, Lui LY, et al. BMD at multiple sites and risk of fracture. "
                                    "J Bone Miner Res 2003;18(11):1947-1954. doi:10.1359/jbmr.2003.18.11.1947")
    assert unresolved == {"number": 3, "status": "unresolved",
                          "reason": "the publisher's own topic overview, not a guideline"}
    lines = explain_render.text(doc).splitlines()
    assert ("  “Consider more potent agents” (discordant-bmd-article, “Treatment Considerations”; "
            "verified)") in lines
    assert "    Reference 3: unresolved: the publisher's own topic overview, not a guideline" in lines
    assert "    Reference 2: Stone KL, Seeley DG, Lui LY, et al. BMD at multiple sites and risk of fracture. J" \
        in lines


def test_evaluate_explain_prints_each_conclusions_short_why(mini_kb_root, runner):
    result = runner.invoke(cli, ["evaluate", "--kb", str(mini_kb_root), str(DEMO_CASE), "--explain"])
    assert result.exit_code == 0, result.output
    assert ("      Why: rule pattern.spine_up_hip_down v1 matched lumbar spine site trend (recency 0, site\n"
            "      lumbar_spine, direction increase); total hip site trend (recency 0, region hip, direction\n"
            "      decrease)\n") in result.output
    kb = knowledge_base.load(mini_kb_root)
    case = demo()
    del case["risk"]["fracture_risk"]
    evaluation = Evaluator(kb).evaluate(case, "case.json")
    assert engine_explain.short_why(kb, evaluation, "check.fall_risk") == (
        "rule check.fall_risk.considered v1 matched pattern.spine_up_hip_down; risk (fracture_risk not recorded)")


def test_numbers_that_differ_never_read_as_equal():
    number, pair = engine_explain.format_number, engine_explain.format_pair
    assert number(-0.032, "g/cm2", signed=True) == "-0.032 g/cm2"
    assert number(0.03, "g/cm2") == "0.030 g/cm2"
    assert number(1.5333333, "LSC", signed=True) == "+1.53 LSC"
    assert number(5, "percent") == "5 percent"
    assert pair(4.9961, 5, "percent") == ("4.996 percent", "5.000 percent")
    assert pair(4.2, 5, "percent") == ("4.2 percent", "5 percent")


# --- the shipped knowledge base ------------------------------------------------------------------

def walk(node, problems: list, where: str):
    """Every branch of a why tree must end at input facts with paths, and every rule on the way
    must carry at least one quote verified against its registered source text."""
    kind = node["node"]
    if kind in ("conclusion", "derived"):
        if not any(c["verified"] for c in node["citations"]):
            problems.append(f"{where}: rule {node['rule']['id']} has no verified quote")
        matches = node["matches"] if kind == "conclusion" else [node["match"]]
        if not matches or not all(m["conditions"] for m in matches):
            problems.append(f"{where}: rule {node['rule']['id']} shows no matched facts")
        for match in matches:
            for condition in match["conditions"]:
                if condition["state"] != "satisfied":
                    problems.append(f"{where}: {condition['alias']} is {condition['state']} in a fired rule")
                walk(condition["basis"], problems, f"{where} > {condition['alias']}")
    elif kind == "computed":
        if not node["from"]:
            problems.append(f"{where}: computed fact {node['fact']} comes from nothing")
        for child in node["from"]:
            walk(child, problems, f"{where} > {node['fact']}")
    elif not node["inputs"] or not all(e["path"] for e in node["inputs"]):
        problems.append(f"{where}: input fact {node['fact']} names no input path")


def test_every_conclusion_of_every_shipped_case_is_explained_to_inputs_and_quotes(kb, evaluator):
    case_files = sorted(CASES.glob("*.yaml"))
    assert len(case_files) >= 5
    problems, explained = [], 0
    for path in case_files:
        evaluation = evaluator.evaluate(read_case(path), path.name)
        for conclusion in evaluation.result["conclusions"]:
            code = conclusion["code"]
            document = engine_explain.explain(kb, evaluation, code, statuses=evaluator.statuses)
            assert schemas.problems("explanation", document, code) == []
            walk(document["why"], problems, f"{path.name} {code}")
            explained += 1
            assert engine_explain.short_why(kb, evaluation, code).startswith(f"rule {conclusion['rule']['id']} ")
    assert problems == []
    assert explained >= 50


def test_why_not_for_every_code_on_every_shipped_case_validates(kb, evaluator):
    for path in sorted(CASES.glob("*.yaml")):
        evaluation = evaluator.evaluate(read_case(path), path.name)
        for code in kb.codes():
            document = engine_explain.explain(kb, evaluation, code, why_not=True, statuses=evaluator.statuses)
            assert schemas.problems("explanation", document, code) == [], (path.name, code)


@pytest.mark.parametrize("case", ["spine-up-hip-down.yaml", "lsc-missing.yaml"])
def test_text_is_clean_at_100_columns_on_two_example_cases(kb, evaluator, case):
    evaluation = evaluator.evaluate(read_case(CASES / case), case)
    for code in kb.codes():
        for why_not in (False, True):
            document = engine_explain.explain(kb, evaluation, code, why_not=why_not, statuses=evaluator.statuses)
            for audience in ("clinician", "patient"):
                for line in explain_render.text(document, audience).splitlines():
                    assert len(line) <= 100, (code, line)
                    assert not REPR.search(line), (code, line)


def test_shipped_missing_lsc_case_is_unknown_naming_the_lsc_field(runner):
    result = explain_cli(runner, str(CASES / "lsc-missing.yaml"), PATTERN, "--why-not")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "? total hip absolute change -0.037 g/cm2 <= -1 LSC (facility LSC not recorded);" in out
    assert "the case does not record\n                facility.lsc_g_cm2.total_hip\n" in out
    assert "✗ femoral neck absolute change -0.009 g/cm2 <= -1 LSC = -0.035 g/cm2 (-0.26 LSC);" in out


def test_an_input_read_as_something_else_shows_both(runner):
    """The agent is the input; its class is what the rule tested."""
    result = explain_cli(runner, str(CASES / "exact-lsc-boundary.yaml"), "treatment.consider_anabolic_switch")
    assert result.exit_code == 0, result.output
    assert "        treatment: status = current, agent = risedronate (read as agent_class bisphosphonate)," \
        in result.output.splitlines()


def test_every_conclusion_of_every_rule_test_case_is_explained_to_inputs_and_quotes(kb):
    """The same walk over the rule tests' cases (each a shipped case with one thing changed)."""
    from bmdkb.engine.authoring import rule_tests

    run = rule_tests.run(kb, rule_tests.load_test_files(kb.root, kb=kb))
    problems, explained = [], 0
    for outcome in run.outcomes:
        evaluation = outcome.evaluation
        for conclusion in evaluation.result["conclusions"]:
            document = engine_explain.explain(kb, evaluation, conclusion["code"])
            walk(document["why"], problems, f"{outcome.test.file} #{outcome.test.index} {conclusion['code']}")
            explained += 1
    assert problems == []
    assert len(run.outcomes) >= 140 and explained >= 1000
