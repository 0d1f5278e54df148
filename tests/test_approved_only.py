"""Approved-only mode says what it withheld and why, never "No pattern concluded" for a
pattern that was found, and its JSON lists no fact derived by a rule not approved."""
from __future__ import annotations

import json

from bmdkb.cli.main import cli
from bmdkb.engine.kb import schemas

import keyring
from conftest import DEMO_CASE

PATTERN = "pattern.spine_up_hip_down"
MEASUREMENTS = ("measurement.significant_increase", "measurement.significant_decrease")


def approve(runner, root, rule_id):
    keyring.ensure(root)
    for args in (["submit", rule_id, "--by", "Test Author"], ["start", rule_id, "--by", "Dr Bo Reviewer"],
                 ["approve", rule_id, "--by", "Dr Cy Approver", "--coi", "none"]):
        result = runner.invoke(cli, ["review", *args, *keyring.cli_args(root, args), "--kb", str(root)])
        assert result.exit_code == 0, result.output


def evaluate(runner, root, *args):
    result = runner.invoke(cli, ["evaluate", str(DEMO_CASE), "--approved-only", "--kb", str(root), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_withheld_pattern_is_reported_as_withheld_with_its_reason(runner, mini_kb_root):
    for rule_id in MEASUREMENTS:
        approve(runner, mini_kb_root, rule_id)  # the pattern rule itself stays a draft
    text = evaluate(runner, mini_kb_root)
    assert "No pattern concluded" not in text
    assert ("Pattern withheld (approved-only mode): pattern.spine_up_hip_down was concluded for this case but is "
            "not shown because it rests on rules not yet approved: pattern.spine_up_hip_down v1 (draft).") \
        in " ".join(text.split())
    assert "WITHHELD IN APPROVED-ONLY MODE" in text
    markdown = evaluate(runner, mini_kb_root, "--format", "markdown")
    assert "No pattern concluded" not in markdown and "Pattern withheld (approved-only mode)" in markdown

    document = json.loads(evaluate(runner, mini_kb_root, "--format", "json"))
    assert schemas.problems("result", document, "result") == []
    assert document["conclusions"] == [] and document["summary"]["patterns"] == []
    held = {w["code"]: w for w in document["summary"]["withheld_conclusions"]}
    assert held[PATTERN] == {"code": PATTERN, "kind": "pattern",
                             "unapproved_rules": [{"id": PATTERN, "version": 1, "status": "draft"}]}
    # facts of the approved measurement rules stay; none derived by an unapproved rule is listed
    assert {f["rule"] for f in document["facts"] if "rule" in f} == set(MEASUREMENTS)
    assert document["summary"]["withheld_facts"] == 0


def test_facts_derived_by_unapproved_rules_are_left_out_and_counted(runner, mini_kb_root):
    document = json.loads(evaluate(runner, mini_kb_root, "--format", "json"))
    assert schemas.problems("result", document, "result") == []
    assert not any("rule" in f for f in document["facts"])  # nothing is approved: no derived fact is shown
    assert document["summary"]["withheld_facts"] > 0
    held = {w["code"]: w for w in document["summary"]["withheld_conclusions"]}
    assert {r["id"] for r in held[PATTERN]["unapproved_rules"]} == {*MEASUREMENTS, PATTERN}
    preview = json.loads(runner.invoke(cli, ["evaluate", str(DEMO_CASE), "--format", "json",
                                             "--kb", str(mini_kb_root)]).stdout)
    assert "withheld_conclusions" not in preview["summary"]  # preview output is as before
    assert len(preview["facts"]) == len(document["facts"]) + document["summary"]["withheld_facts"]


def test_batch_counts_withheld_patterns_apart_from_absent_ones(runner, mini_kb_root, tmp_path):
    import yaml

    from bmdkb.engine.run import batch

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(yaml.safe_load(DEMO_CASE.read_text()), default=str) + "\n")
    output = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", str(source), "-o", str(output), "--approved-only", "--workers", "1",
                                 "--kb", str(mini_kb_root)])
    assert result.exit_code == 0, result.output
    summary = json.loads(batch.summary_path(output).read_text())
    assert summary["patterns"] == {"(none)": 1} and summary["withheld_patterns"] == {PATTERN: 1}
