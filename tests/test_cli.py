"""The `bmdkb evaluate` and `bmdkb validate` commands as a user meets them."""
from __future__ import annotations

import json
import subprocess
import sys

from bmdkb.cli.main import cli
from bmdkb.engine.kb import schemas
from bmdkb.engine.run.evaluate import Evaluator

from conftest import CASES, DEMO_CASE

DEMO = str(CASES / "spine-up-hip-down.yaml")


def test_json_result_follows_the_contract(runner):
    result = runner.invoke(cli, ["evaluate", DEMO, "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert schemas.problems("result", document, "result") == []
    assert document["case_id"] == "demo-001" and document["mode"] == "preview"
    codes = [c["code"] for c in document["conclusions"]]
    assert codes[0] == "pattern.spine_up_hip_down"
    assert all(c["caution"] == "pending editorial review" for c in document["conclusions"])
    hip = next(c for c in document["conclusions"] if c["code"] == "assessment.inadequate_treatment_response")
    assert hip["rule"]["status"] == "submitted" and hip["rule"]["digest"].startswith("sha256:")


def test_output_is_byte_identical_across_processes():
    command = [sys.executable, "-m", "bmdkb.cli.main", "evaluate", DEMO, "--format", "json"]
    first = subprocess.run(command, capture_output=True, check=True).stdout
    second = subprocess.run(command, capture_output=True, check=True).stdout
    assert first == second and len(first) > 1000


def test_text_output_is_clean_at_100_columns(runner):
    for case in ("spine-up-hip-down.yaml", "anabolic-with-findings.yaml"):
        output = runner.invoke(cli, ["evaluate", str(CASES / case)]).output
        assert max(len(line) for line in output.splitlines()) <= 100
        for repr_marker in ("{'", "['", "None", "<bmdkb", "Fact("):
            assert repr_marker not in output
    output = runner.invoke(cli, ["evaluate", DEMO]).output
    assert output.index("PATTERN") < output.index("POSSIBLE EXPLANATIONS") < output.index("CHECKS TO MAKE NEXT") \
        < output.index("TREATMENT CONSIDERATIONS") < output.index("FOLLOW-UP") < output.index("PITFALLS IN THIS CASE")
    assert "    Total hip:    -0.032 g/cm2 (-4.1%) = -1.28 LSC (LSC 0.025 g/cm2)" in output
    assert ("      Cited: Fracture Risk Implications: “Hip BMD is generally considered the most reliable\n"
            "      predictor for multiple fracture types 2” [ref 2]\n") in output


def test_markdown_output(runner):
    output = runner.invoke(cli, ["evaluate", DEMO, "--format", "markdown"]).output
    assert output.startswith("## DXA interpretation: case demo-001\n")
    assert "### Possible explanations" in output
    assert "- **pattern.spine_up_hip_down** (supported) — *pending editorial review*: " in output


def test_bad_input_exits_2_naming_the_field_and_prints_nothing(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO_CASE.read_text().replace("bmd_g_cm2: 0.749", "bmd_g_cm2: 749"))
    result = runner.invoke(cli, ["evaluate", DEMO, str(bad), "--format", "json"])
    assert result.exit_code == 2
    assert result.stdout == ""  # no partial result, not even for the good case
    assert result.stderr == (f"Error: {bad}: scans[1].sites.total_hip.bmd_g_cm2: 749 is outside the plausible range "
                             "for BMD in g/cm2 (above 0, at most 2.5) (it looks like mg/cm2: give BMD in g/cm2, "
                             "e.g. 0.912)\n")


def test_missing_file_and_not_yaml(runner, tmp_path):
    result = runner.invoke(cli, ["evaluate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and result.stderr == f"Error: {tmp_path / 'nope.yaml'}: no such file\n"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json at all")
    result = runner.invoke(cli, ["evaluate", str(garbage)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {garbage}: not valid JSON: Expecting value (line 1, column 1)\n"


def test_program_defect_is_exit_1_without_traceback(runner, monkeypatch):
    def broken(self, *args, **kwargs):
        raise KeyError("site")

    monkeypatch.setattr(Evaluator, "evaluate", broken)
    result = runner.invoke(cli, ["evaluate", DEMO])
    assert result.exit_code == 1
    assert result.stderr == ("bmdkb: internal error: KeyError: 'site'\n"
                             "This is a defect of bmdkb; please report it with the command you ran.\n")
    assert "Traceback" not in result.output


def test_kb_option_and_environment_variable(runner, mini_kb_root, monkeypatch):
    result = runner.invoke(cli, ["evaluate", DEMO, "--format", "json", "--kb", str(mini_kb_root)])
    assert [c["code"] for c in json.loads(result.output)["conclusions"]] == ["pattern.spine_up_hip_down"]
    monkeypatch.setenv("BMDKB_KB", str(mini_kb_root))
    result = runner.invoke(cli, ["evaluate", DEMO, "--format", "json"])
    assert [c["code"] for c in json.loads(result.output)["conclusions"]] == ["pattern.spine_up_hip_down"]


def test_a_broken_knowledge_base_is_exit_2_naming_the_file(runner, mini_kb_root):
    rule = mini_kb_root / "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml"
    rule.write_text(rule.read_text().replace("kind: pattern", "kind: patern"))
    result = runner.invoke(cli, ["evaluate", DEMO, "--kb", str(mini_kb_root)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: knowledge/rules/pattern/pattern.spine_up_hip_down.yaml: kind: "
                                    "unknown stage 'patern'")


def test_approved_only_withholds_unapproved_content_and_says_so(runner):
    result = runner.invoke(cli, ["evaluate", DEMO, "--format", "json", "--approved-only"])
    document = json.loads(result.output)
    assert document["mode"] == "approved-only" and document["conclusions"] == []
    assert document["summary"]["withheld"] == len(document["summary"]["withheld_codes"]) > 20
    text = runner.invoke(cli, ["evaluate", DEMO, "--approved-only"]).output
    assert f"Approved-only mode: {document['summary']['withheld']} conclusions resting on unapproved" in text


def test_validate_lists_problems_with_file_and_field(runner, tmp_path):
    result = runner.invoke(cli, ["validate", DEMO])
    assert result.exit_code == 0
    assert f"{DEMO}: valid" in result.output and "citations verified" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO_CASE.read_text().replace("date: 2025-03-20", "date: 2023-03-14"))
    result = runner.invoke(cli, ["validate", DEMO, str(bad)])
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {bad}: scans[1].date: 2023-03-14 is also the date of scans[0]; "
                             "two scans cannot share a date\n")
