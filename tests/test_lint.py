"""`bmdkb lint`: every check fires on a small knowledge base broken in one way, lint
keeps going on a knowledge base that does not load, and the shipped one lints clean."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

import authoring_kb
from authoring_kb import edit
from bmdkb.cli.main import cli
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.kb import reader as kb_reader
from bmdkb.engine.authoring import release
from bmdkb.engine.common.errors import KnowledgeBaseError, Problem
from bmdkb.engine.authoring.lint import CHECKS, Finding, failing, lint
from bmdkb.engine.common.yamlio import load_file

REPO = Path(__file__).resolve().parent.parent
PAT = "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml"
CHK = "knowledge/rules/check/check.fall_risk.considered.yaml"
INC = "knowledge/rules/measurement/measurement.significant_increase.yaml"
PARAMS = "knowledge/facts/parameters.yaml"
CHK_QUOTE = 'quote: "Review fall risk factors"}'


def run_lint(root) -> list[Finding]:
    return lint(root, authoring_kb.CONTRACT)


def new_findings(root, mutate) -> list[Finding]:
    before = set(run_lint(root))
    mutate(root)
    return [f for f in run_lint(root) if f not in before]


def write_yaml(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def update_params(root: Path, change) -> None:
    data = load_file(root / PARAMS)
    change(data["parameters"])
    write_yaml(root / PARAMS, data)


# ---------------------------------------------------------------- one mutation per check

CYCLE_RULE = """\
id: evidence.echo_{me}
version: 1
title: Echo {me}
kind: evidence
author: Test Author
when:
  - fact: {reads}
    as: seen
then:
  assert: {{type: {writes}, from: seen, copy: [site], set: {{recency: 0, direction: increase}}}}
statement: {{clinician: Echo number {me} turns one fact into another.}}
citations:
  - {{source: discordant-bmd-article, section: Common Pitfalls to Avoid, quote: "Ensure changes exceed the LSC for your facility"}}
"""


def _cycle(root):
    folder = root / "knowledge" / "rules" / "evidence"
    folder.mkdir()
    (folder / "evidence.echo_a.yaml").write_text(CYCLE_RULE.format(me="a", reads="site_trend", writes="echo"))
    (folder / "evidence.echo_b.yaml").write_text(CYCLE_RULE.format(me="b", reads="echo", writes="site_trend"))


def _unverified_reference(root):
    refs = load_file(root / "provenance/references.yaml")
    refs["references"][1] = {"number": 2, "status": "resolved", "record": {"title": "A study"},
                             "verification": "Recalled from memory; not verified against PubMed."}
    write_yaml(root / "provenance/references.yaml", refs)
    edit(root / CHK, CHK_QUOTE, CHK_QUOTE[:-1] + ", references: [2]}")


def _manifest_then_edit(root):
    release.write_manifest(root, release.build_manifest(knowledge_base.load(root), "1.0.0", None, dt.date(2026, 1, 1)))
    edit(root / CHK, "Review fall risk factors now.", "Review every fall risk factor now.")


def _coverage_map(root):
    write_yaml(root / "knowledge/coverage.yaml", {
        "kind": "coverage", "version": 1, "source": "discordant-bmd-article", "not_encoded": [],
        "sections": [{"section": "Opening paragraph", "statements": [{"text": "x", "rules": ["pattern.nothing"]}]}]})


def _spare_parameter(params):
    params.append({"id": "spare_threshold", "value": 2, "unit": "LSC", "description": "A spare threshold nobody uses.",
                   "provenance": {"local_policy": {"owner": "Test board", "rationale": "Kept to test lint."}}})


def _source_text_outside(root):
    """The registered text replaced by a symlink to an identical copy outside the root."""
    text = root / "provenance/sources/discordant-bmd-article.txt"
    outside = root.parent / "outside.txt"
    outside.write_bytes(text.read_bytes())
    text.unlink()
    text.symlink_to(outside)


TEST_FILE_PAT = "knowledge/rules/pattern/pattern.spine_up_hip_down.test.yaml"

MUTATIONS = [
    ("schema",
     lambda r: edit(r / PAT, "kind: pattern\n", "kind: pattern\ncolour: red\n"),
     Finding("schema", "error", PAT, "colour",
             "unknown field (allowed: author, citations, description, id, kind, statement, then, title, uses, version, when)")),
    ("duplicate-id",
     lambda r: shutil.copy(r / CHK, r / "knowledge/rules/check/check.fall_risk.copy.yaml"),
     Finding("duplicate-id", "error", "knowledge/rules/check/check.fall_risk.copy.yaml", "id",
             f"duplicate rule id 'check.fall_risk.considered' (also in {CHK})")),
    ("rule-structure",
     lambda r: edit(r / PAT, "conclude: {code: pattern.spine_up_hip_down}",
                    "conclude: {code: pattern.spine_up_hip_down, details_from: nobody}"),
     Finding("rule-structure", "error", PAT, "then.conclude.details_from", "no pattern is aliased 'nobody' (aliases: spine, hip)")),
    ("citation-source-unknown",
     lambda r: edit(r / CHK, "section: Recommended Next Steps", "section: Nowhere"),
     Finding("citation-source-unknown", "error", CHK, "citations[0].section", "'Nowhere' is not a section of discordant-bmd-article")),
    ("quote-not-found",
     lambda r: edit(r / CHK, '"Review fall risk factors"', '"Review the fall risk"'),
     Finding("quote-not-found", "error", CHK, "citations[0].quote",
             "quote not found verbatim in discordant-bmd-article: 'Review the fall risk'")),
    ("citation-unverified",
     lambda r: edit(r / CHK, '"Review fall risk factors"', '"Review the fall risk"'),
     Finding("citation-unverified", "error", CHK, "citations",
             "none of rule check.fall_risk.considered's 1 citation(s) verifies: each needs a registered source and "
             "section and a quote found there verbatim")),
    ("reference-unlisted",
     lambda r: edit(r / CHK, CHK_QUOTE, CHK_QUOTE[:-1] + ", references: [9]}"),
     Finding("reference-unlisted", "error", CHK, "citations[0].references[0]",
             "reference 9 is not in provenance/references.yaml: register it, resolved or unresolved with a reason")),
    ("reference-unresolved",
     lambda r: edit(r / CHK, CHK_QUOTE, CHK_QUOTE[:-1] + ", references: [3]}"),
     Finding("reference-unresolved", "warning", CHK, "citations[0].references[0]",
             "reference 3 is unresolved (not in the article's list): the passage cannot be traced to its primary source")),
    ("reference-unverified",
     _unverified_reference,
     Finding("reference-unverified", "warning", "provenance/references.yaml", "references[1].verification",
             "reference 2's record is not verified against a bibliographic database (1 citation carries it)")),
    ("fact-type-unasserted",
     lambda r: edit(r / CHK, "- fact: risk", "- fact: frailty"),
     Finding("fact-type-unasserted", "error", CHK, "when[1].fact",
             "nothing asserts 'frailty' facts (no rule asserts or concludes them and cases do not provide them): "
             "rule check.fall_risk.considered can never fire")),
    ("rule-unreachable",
     lambda r: edit(r / CHK, "where: {code: pattern.spine_up_hip_down}", "where: {code: pattern.spine_down}"),
     Finding("rule-unreachable", "error", CHK, "when[0]",
             "no conclusion fact can satisfy `conclusion`: no rule or case sets code = pattern.spine_down; "
             "rule check.fall_risk.considered can never fire")),
    ("derived-fact-unused",
     lambda r: edit(r / INC, "set: {direction: increase}", "set: {direction: rising}"),
     Finding("derived-fact-unused", "warning", INC, "then.assert",
             "no rule matches the site_trend fact this rule asserts (direction = rising)")),
    ("chain-cycle",
     _cycle,
     Finding("chain-cycle", "error", "knowledge/rules/evidence/evidence.echo_a.yaml", "when",
             "evidence.echo_a -> evidence.echo_b -> evidence.echo_a: each rule can match what the previous one "
             "asserts, so the chain could fire forever")),
    ("contract-code-missing",
     lambda r: [(r / CHK).unlink(), (r / CHK.replace(".yaml", ".test.yaml")).unlink()],
     Finding("contract-code-missing", "error", "knowledge/rules/check", "then.conclude.code",
             "no rule concludes the contract code check.fall_risk (check)")),
    ("contract-kind-mismatch",
     lambda r: edit(r / CHK, "kind: check", "kind: caution"),
     Finding("contract-kind-mismatch", "error", CHK, "kind",
             "check.fall_risk is a check conclusion in the contract, but this rule's kind is caution")),
    ("code-outside-contract",
     lambda r: edit(r / CHK, "conclude: {code: check.fall_risk}", "conclude: {code: check.fall_risk_review}"),
     Finding("code-outside-contract", "info", CHK, "then.conclude.code", "check.fall_risk_review is not a contract code")),
    ("parameter-without-provenance",
     lambda r: update_params(r, lambda ps: ps[0].update(provenance={"note": "Chosen by us."})),
     Finding("parameter-without-provenance", "error", PARAMS, "parameters[0].provenance",
             "parameter significance_threshold_lsc has no provenance: it has no citation and it is not marked "
             "local policy with an owner")),
    ("parameter-unused",
     lambda r: update_params(r, _spare_parameter),
     Finding("parameter-unused", "warning", PARAMS, "parameters[1].id", "no rule uses parameter spare_threshold")),
    ("content-changed-without-version-bump",
     _manifest_then_edit,
     Finding("content-changed-without-version-bump", "error", CHK, "version",
             "content changed since release 1.0.0 but the version is still 1: bump it to 2")),
    ("release-manifest-invalid",
     lambda r: (r / release.MANIFEST).write_text("kind: release-manifest\nrelease: 1.0.0\n"),
     Finding("release-manifest-invalid", "error", release.MANIFEST, "date", "is required")),
    ("coverage-rule-unknown",
     _coverage_map,
     Finding("coverage-rule-unknown", "error", "knowledge/coverage.yaml", "sections[0].statements[0].rules[0]",
             "no rule 'pattern.nothing'")),
    ("rule-test-invalid",
     lambda r: edit(r / TEST_FILE_PAT, "    case: demo.yaml\n", "    case: demo.yaml\n    set: {'scans[5].date': 2024-01-01}\n"),
     Finding("rule-test-invalid", "error", TEST_FILE_PAT, "cases[0].set.scans[5].date", "scans has 2 entries; there is no scans[5]")),
    ("rule-untested",
     lambda r: (r / CHK.replace(".yaml", ".test.yaml")).unlink(),
     Finding("rule-untested", "warning", CHK, "", "no test file check.fall_risk.considered.test.yaml next to the rule")),
    ("engine-limit",
     lambda r: edit(r / PAT, "site: lumbar_spine,", "site: {in: [lumbar_spine" +
                    "".join(f", s{i}" for i in range(300)) + "]},"),
     Finding("engine-limit", "error", PAT, "when[0].where.site.in",
             "301 values; the rule engine takes at most 256 per `in` list (limit)")),
    ("outside-root",
     _source_text_outside,
     Finding("outside-root", "error", "provenance/sources/discordant-bmd-article.yaml", "text_file",
             "'discordant-bmd-article.txt' resolves outside the knowledge-base root (OUTSIDE); every file of a "
             "knowledge base must be inside its root")),
    ("statement-duplicated",
     lambda r: edit(r / INC, "{clinician: A increase at least as large", "{clinician: a  DECREASE at least as large"),
     Finding("statement-duplicated", "warning", INC, "statement.clinician",
             "repeats the clinician statement of measurement.significant_decrease word for word")),
]


def test_the_small_knowledge_base_lints_clean(akb):
    assert run_lint(akb) == []
    knowledge_base.load(akb)


@pytest.mark.parametrize("check_id,mutate,expected", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_check_fires_on_a_knowledge_base_broken_for_it(akb, check_id, mutate, expected):
    found = new_findings(akb, mutate)
    expected = dataclasses.replace(expected, message=expected.message.replace("OUTSIDE", str(akb.parent / "outside.txt")))
    assert expected in found, "\n".join(map(str, found))
    assert CHECKS[check_id].severity == expected.severity


def test_every_check_has_a_test_that_makes_it_fire():
    tested = {m[0] for m in MUTATIONS} | {"load-error", "source-text-mismatch"}
    assert tested == set(CHECKS)


def test_a_changed_source_text_is_reported_with_both_digests(akb):
    text = akb / "provenance/sources/discordant-bmd-article.txt"
    registered = hashlib.sha256(text.read_bytes()).hexdigest()
    text.chmod(0o644)
    text.write_bytes(text.read_bytes() + b"x")
    actual = hashlib.sha256(text.read_bytes()).hexdigest()
    findings = run_lint(akb)
    assert Finding("source-text-mismatch", "error", "provenance/sources/discordant-bmd-article.yaml", "sha256",
                   f"the text file's sha256 is {actual}, not the registered {registered}") in findings
    # without its source no quote verifies, and each rule says so
    assert {f.file for f in findings if f.check == "citation-unverified"} == {
        PAT, CHK, INC, "knowledge/rules/measurement/measurement.significant_decrease.yaml"}


def test_a_refusal_no_check_explains_is_still_an_error(akb, monkeypatch):
    # What load() refuses is the reading's refusal (load raises it; lint reads it, not loading twice).
    def refuse(reading):
        return KnowledgeBaseError(Problem("knowledge/kb.yaml", "stages", "a problem only load() knows"))

    monkeypatch.setattr(kb_reader.Reading, "refusal", refuse)
    with pytest.raises(KnowledgeBaseError, match="a problem only load"):
        knowledge_base.load(akb)
    assert run_lint(akb) == [Finding("load-error", "error", "knowledge/kb.yaml", "stages", "a problem only load() knows")]


def test_the_version_check_is_satisfied_by_a_bump(akb):
    _manifest_then_edit(akb)
    edit(akb / CHK, "version: 1", "version: 2")
    assert [f for f in run_lint(akb) if f.check == "content-changed-without-version-bump"] == []


def test_a_changed_parameter_needs_its_file_and_the_rules_using_it_bumped(akb):
    release.write_manifest(akb, release.build_manifest(knowledge_base.load(akb), "1.0.0", None, dt.date(2026, 1, 1)))
    update_params(akb, lambda ps: ps[0].update(value=2))
    found = [(f.file, f.message) for f in run_lint(akb) if f.check == "content-changed-without-version-bump"]
    bump = "content changed since release 1.0.0 but the version is still 1: bump it to 2"
    assert found == [(PARAMS, bump), ("knowledge/rules/measurement/measurement.significant_decrease.yaml", bump), (INC, bump)]


def test_unreachability_follows_the_chain(akb):
    edit(akb / INC, "set: {direction: increase}", "set: {direction: rising}")
    unreachable = {(f.file, f.field, f.message) for f in run_lint(akb) if f.check == "rule-unreachable"}
    assert unreachable == {
        (PAT, "when[0]", "no site_trend fact can satisfy `spine`: no rule or case sets recency = 0, site = lumbar_spine, "
                         "direction = increase; rule pattern.spine_up_hip_down can never fire"),
        (CHK, "when[0]", "`conclusion` can only be met by facts of rules that can never fire (pattern.spine_up_hip_down): "
                         "rule check.fall_risk.considered can never fire"),
    }


def test_lint_reports_on_a_knowledge_base_that_does_not_load(akb):
    (akb / "knowledge/fact-types.yaml").write_text("kind: [unclosed\n")
    edit(akb / PAT, "kind: pattern\n", "kind: pattern\ncolour: red\n")
    edit(akb / CHK, '"Review fall risk factors"', '"Review the fall risk"')
    with pytest.raises(KnowledgeBaseError):
        knowledge_base.load(akb)        # evaluate refuses it ...
    findings = run_lint(akb)            # ... lint explains it
    by_check = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f.file)
    assert by_check["schema"] == ["knowledge/fact-types.yaml", PAT]
    assert by_check["quote-not-found"] == [CHK]
    # with no fact types declared, no case fact exists: the measurement rules cannot fire
    assert "fact-type-unasserted" in by_check
    assert failing(findings, "error")


def test_lint_never_passes_a_knowledge_base_evaluate_refuses(akb):
    (akb / "knowledge/coverage.yaml").unlink()
    findings = run_lint(akb)
    assert Finding("schema", "error", "knowledge/coverage.yaml", "", "no such file") in findings


# ---------------------------------------------------------------- the command


def write_contract(tmp_path) -> str:
    path = tmp_path / "contract.json"
    path.write_text(json.dumps({"codes": authoring_kb.CONTRACT}))
    return str(path)


def test_cli_clean_knowledge_base_exits_0(runner, akb, tmp_path):
    result = runner.invoke(cli, ["lint", "--kb", str(akb), "--contract", write_contract(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output == "0 findings: 0 error(s), 0 warning(s), 0 info; lint passed at --fail-on error\n"


def test_cli_fail_on_decides_whether_warnings_fail(runner, akb, tmp_path):
    edit(akb / CHK, CHK_QUOTE, CHK_QUOTE[:-1] + ", references: [3]}")
    args = ["lint", "--kb", str(akb), "--contract", write_contract(tmp_path)]
    line = (f"{CHK}: citations[0].references[0]: warning [reference-unresolved] reference 3 is unresolved "
            "(not in the article's list): the passage cannot be traced to its primary source\n")
    passed = runner.invoke(cli, args)
    assert passed.exit_code == 0
    assert passed.output == line + "1 finding: 0 error(s), 1 warning(s), 0 info; lint passed at --fail-on error\n"
    failed = runner.invoke(cli, args + ["--fail-on", "warning"])
    assert failed.exit_code == 3  # findings (engine/common/exitstatus.py)
    assert failed.output == line + "1 finding: 0 error(s), 1 warning(s), 0 info; lint failed at --fail-on warning\n"


def test_cli_errors_exit_3_and_json_lists_findings(runner, akb, tmp_path):
    edit(akb / CHK, '"Review fall risk factors"', '"Review the fall risk"')
    result = runner.invoke(cli, ["lint", "--kb", str(akb), "--contract", write_contract(tmp_path), "--format", "json"])
    assert result.exit_code == 3
    doc = json.loads(result.output)
    assert doc["passed"] is False and doc["counts"] == {"error": 2, "warning": 0, "info": 0}
    assert [(f["check"], f["field"]) for f in doc["findings"]] == [("citation-unverified", "citations"),
                                                                   ("quote-not-found", "citations[0].quote")]


def test_cli_without_a_knowledge_base_exits_2(runner, tmp_path):
    result = runner.invoke(cli, ["lint", "--kb", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path}: not a knowledge-base root (no knowledge/ folder)\n"


def test_cli_lists_every_check(runner):
    result = runner.invoke(cli, ["lint", "--checks", "--format", "json"])
    assert result.exit_code == 0
    assert {c["check"] for c in json.loads(result.output)} == set(CHECKS)


# ---------------------------------------------------------------- the shipped knowledge base


def test_the_shipped_knowledge_base_lints_without_errors(runner):
    result = runner.invoke(cli, ["lint", "--kb", str(REPO), "--fail-on", "error", "--format", "json"])
    doc = json.loads(result.output)
    assert result.exit_code == 0, [f for f in doc["findings"] if f["severity"] == "error"]
    # the warnings that remain are the reference problems the README explains
    assert {f["check"] for f in doc["findings"] if f["severity"] == "warning"} <= {"reference-unresolved",
                                                                                  "reference-unverified"}
    assert {f["check"] for f in doc["findings"] if f["severity"] == "info"} <= {"code-outside-contract"}
