"""Releases (manifest, changelog, version rules), pinned evaluation, and `bmdkb diff`
(content field by field, and the behavioural diff over the rule-test cases)."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import authoring_kb
from authoring_kb import edit
from bmdkb.cli.main import cli
from bmdkb.engine.authoring import diff as kbdiff
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.authoring import release
from bmdkb.engine.authoring import rule_tests
from bmdkb.engine.kb import schemas
from bmdkb.engine.common.errors import BmdkbError
from bmdkb.engine.common.yamlio import load_file

REPO_ROOT = Path(__file__).resolve().parent.parent

REPO = Path(__file__).resolve().parent.parent
POTENT = "knowledge/rules/treatment/treatment.consider_potent_agent.yaml"
CASE = str(REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml")
DAY1, DAY2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def refused(call) -> list[str]:
    with pytest.raises(BmdkbError) as info:
        call()
    return [str(p) for p in info.value.problems]


@pytest.fixture
def shipped_kb_copy(shipped_kb_copy):
    """A copy of the shipped knowledge base as it was before its first release."""
    for name in (release.MANIFEST, release.CHANGELOG):
        (shipped_kb_copy / name).unlink(missing_ok=True)
    return shipped_kb_copy


def test_the_shipped_knowledge_base_is_exactly_its_release(runner):
    kb = knowledge_base.load(REPO_ROOT)
    manifest = release.read_manifest(REPO_ROOT)
    assert manifest["release"] == kb.release == "1.2.1"
    assert manifest["files"] == kb.files and manifest["knowledge_base"]["digest"] == kb.digest
    result = runner.invoke(cli, ["evaluate", "--release", "1.2.1", str(REPO_ROOT / "knowledge/cases/spine-up-hip-down.yaml")])
    assert result.exit_code == 0, result.output


def released(root) -> Path:
    release.make_release(root, "1.0.0", "First release.", today=DAY1)
    return root


# ---------------------------------------------------------------- release


def test_release_writes_a_manifest_of_every_content_file_and_a_changelog(shipped_kb_copy):
    made = release.make_release(shipped_kb_copy, "1.0.0", "First release.", today=DAY1)
    kb = knowledge_base.load(shipped_kb_copy)
    manifest = load_file(shipped_kb_copy / release.MANIFEST)
    assert manifest == made.manifest == release.read_manifest(shipped_kb_copy)
    assert schemas.problems("release-manifest", manifest, release.MANIFEST) == []
    assert manifest["release"] == "1.0.0" and manifest["previous"] is None and manifest["date"] == "2026-01-01"
    assert manifest["files"] == kb.files                        # what the content digest is made of ...
    assert release.MANIFEST not in manifest["files"]            # ... and the manifest is not part of it
    assert manifest["knowledge_base"]["digest"] == kb.digest
    assert {r["id"]: (r["version"], r["digest"]) for r in manifest["rules"]} == \
        {r.id: (r.version, r.digest) for r in kb.rules.values()}
    assert {f["file"] for f in manifest["versioned_files"]} >= {"knowledge/fact-types.yaml", "knowledge/facts/parameters.yaml"}
    assert len(manifest["tests"]) == len(list((shipped_kb_copy / "knowledge").rglob("*.test.yaml"))) + \
        len(list((shipped_kb_copy / "knowledge" / "cases").glob("*.yaml")))
    changelog = (shipped_kb_copy / release.CHANGELOG).read_text()
    assert changelog.startswith(release.CHANGELOG_HEAD + "\n## 1.0.0 (2026-01-01)\n\nFirst release.\n\n"
                                f"First release: {len(kb.rules)} rules.\n\n- Added `")
    assert changelog.endswith(f"- Knowledge-base digest `{kb.digest}`\n")
    assert changelog.count("- Added `") == len(kb.rules)


def test_a_second_release_records_what_changed_and_updates_kb_yaml(shipped_kb_copy):
    released(shipped_kb_copy)
    edit(shipped_kb_copy / POTENT, "in: [high, very_high]", "in: [very_high]")
    edit(shipped_kb_copy / POTENT, "version: 2", "version: 3")
    made = release.make_release(shipped_kb_copy, "1.1.0", today=DAY2)
    kb = knowledge_base.load(shipped_kb_copy)
    assert made.entry == ("## 1.1.0 (2026-01-02)\n\nSince 1.0.0: 0 added, 0 removed, 1 changed.\n\n"
                          "- Changed `treatment.consider_potent_agent` (version 2 -> 3)\n"
                          f"- Knowledge-base digest `{kb.digest}`\n")
    assert kb.release == "1.1.0" and made.manifest["previous"] == "1.0.0"
    kb_yaml = (shipped_kb_copy / "knowledge/kb.yaml").read_text()
    assert "release: 1.1.0\n" in kb_yaml and kb_yaml.startswith("kind: knowledge-base\n")
    assert "# Stages in chaining order." in kb_yaml          # comments survive
    changelog = (shipped_kb_copy / release.CHANGELOG).read_text()
    assert changelog.index("## 1.1.0") < changelog.index("## 1.0.0")


def test_release_refuses_a_version_not_greater_than_the_current(shipped_kb_copy):
    released(shipped_kb_copy)
    for version in ("1.0.0", "0.9.9"):
        assert refused(lambda: release.make_release(shipped_kb_copy, version)) == [
            f"knowledge/release-manifest.yaml: release: release {version} is not greater than the current release 1.0.0"]
    assert refused(lambda: release.make_release(shipped_kb_copy, "1.1")) == [
        "VERSION: '1.1' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)"]


def test_release_refuses_content_changed_without_a_version_bump_and_writes_nothing(shipped_kb_copy, runner):
    released(shipped_kb_copy)
    before = {p: (shipped_kb_copy / p).read_bytes() for p in (release.MANIFEST, release.CHANGELOG, "knowledge/kb.yaml")}
    edit(shipped_kb_copy / POTENT, "in: [high, very_high]", "in: [very_high]")
    result = runner.invoke(cli, ["release", "1.1.0", "--kb", str(shipped_kb_copy)])
    assert result.exit_code == 2
    assert result.output == (
        "Error: release 1.1.0: refused: lint reports 1 error\n"
        f"Error: {POTENT}: version: [content-changed-without-version-bump] content changed since release 1.0.0 "
        "but the version is still 2: bump it to 3\n")
    assert {p: (shipped_kb_copy / p).read_bytes() for p in before} == before


def test_cli_release_prints_the_changelog_entry(shipped_kb_copy, runner, monkeypatch):
    # The release date comes from the system clock, injected here at the Python level so the
    # expected text is fixed; $BMDKB_NOW is for reading and never dates a release.
    import keyring

    keyring.fixed_clock(monkeypatch, "2027-03-01T23:30:00-05:00")   # 04:30 UTC on 2 March
    result = runner.invoke(cli, ["release", "1.0.0", "--kb", str(shipped_kb_copy), "--note", "First release."],
                           env={"BMDKB_NOW": "2099-01-01"})
    assert result.exit_code == 0, result.output
    kb = knowledge_base.load(shipped_kb_copy)
    assert result.output.startswith("## 1.0.0 (2027-03-02)\n\nFirst release.\n\n")
    manifest = release.read_manifest(shipped_kb_copy)
    assert manifest["date"] == "2027-03-02"
    assert result.output.endswith(f"wrote knowledge/release-manifest.yaml ({len(kb.files)} files, {len(kb.rules)} rules) "
                                  f"and knowledge/CHANGELOG.md; digest {kb.digest}\n"
                                  f"anchored the review ledger at entry 57 ({manifest['ledger']['head']}); unsigned "
                                  "(no roster adopted yet)\n")
    assert "knowledge/board.yaml" in manifest["files"]   # the roster is content a release binds


# ---------------------------------------------------------------- pinned evaluation


def test_evaluate_pinned_to_the_release_it_is(shipped_kb_copy, runner):
    released(shipped_kb_copy)
    result = runner.invoke(cli, ["evaluate", CASE, "--kb", str(shipped_kb_copy), "--release", "1.0.0", "--format", "json"])
    assert result.exit_code == 0, result.output
    manifest = release.read_manifest(shipped_kb_copy)
    assert json.loads(result.output)["knowledge_base"]["digest"] == manifest["knowledge_base"]["digest"]


def test_evaluate_pinned_refuses_another_release_or_changed_files(shipped_kb_copy, runner):
    args = ["evaluate", CASE, "--kb", str(shipped_kb_copy), "--release", "1.0.0"]
    result = runner.invoke(cli, args)
    assert (result.exit_code, result.output) == (
        2, "Error: knowledge/release-manifest.yaml: no release manifest: cannot pin to release 1.0.0\n")
    released(shipped_kb_copy)
    result = runner.invoke(cli, args[:-1] + ["1.0.1"])
    assert (result.exit_code, result.output) == (
        2, "Error: knowledge/release-manifest.yaml: release: the knowledge base is release 1.0.0, not 1.0.1\n")
    listed = release.read_manifest(shipped_kb_copy)["files"][POTENT]
    edit(shipped_kb_copy / POTENT, "in: [high, very_high]", "in: [very_high]")
    edit(shipped_kb_copy / "knowledge/kb.yaml", "name: ", "name: x")
    actual = knowledge_base.load(shipped_kb_copy).files[POTENT]
    result = runner.invoke(cli, args)
    assert (result.exit_code, result.output) == (
        2, f"Error: knowledge/kb.yaml: does not match release 1.0.0: sha256 "
           f"{knowledge_base.load(shipped_kb_copy).files['knowledge/kb.yaml']}, the manifest lists "
           f"{release.read_manifest(shipped_kb_copy)['files']['knowledge/kb.yaml']} (1 more file differ)\n")
    edit(shipped_kb_copy / "knowledge/kb.yaml", "name: x", "name: ")
    result = runner.invoke(cli, args)
    assert (result.exit_code, result.output) == (
        2, f"Error: {POTENT}: does not match release 1.0.0: sha256 {actual}, the manifest lists {listed}\n")
    assert runner.invoke(cli, args[:-2]).exit_code == 0     # unpinned, the edited content still evaluates


def test_verify_release_names_a_missing_or_extra_file(shipped_kb_copy):
    released(shipped_kb_copy)
    extra = shipped_kb_copy / "knowledge/rules/treatment/treatment.consider_potent_agent_copy.yaml"
    shutil.copy(shipped_kb_copy / POTENT, extra)
    edit(extra, "id: treatment.consider_potent_agent\n", "id: treatment.consider_potent_agent_copy\n")
    kb = knowledge_base.load(shipped_kb_copy)
    assert refused(lambda: release.verify_release(kb, "1.0.0")) == [
        "knowledge/rules/treatment/treatment.consider_potent_agent_copy.yaml: not part of release 1.0.0"]
    extra.unlink()
    (shipped_kb_copy / POTENT).unlink()
    kb = knowledge_base.load(shipped_kb_copy)
    assert refused(lambda: release.verify_release(kb, "1.0.0")) == [f"{POTENT}: listed in release 1.0.0 but missing"]


# ---------------------------------------------------------------- diff


@pytest.fixture
def two_kbs(mini_kb_root, tmp_path):
    old = authoring_kb.build(mini_kb_root)
    new = tmp_path / "new-kb"
    shutil.copytree(old, new)
    rule = new / "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml"
    edit(rule, "where: {recency: 0, region: hip, direction: decrease}",
         "where: {recency: 0, site: femoral_neck, direction: decrease}")
    edit(rule, "version: 1", "version: 2")
    return old, new


def test_diff_reports_the_field_change_and_the_cases_whose_outcome_changed(two_kbs, runner):
    old, new = two_kbs
    result = runner.invoke(cli, ["diff", str(old), str(new)])
    assert result.exit_code == 0, result.output
    old_digest, new_digest = knowledge_base.load(old).digest, knowledge_base.load(new).digest
    tests = "knowledge/rules"
    assert result.output == "\n".join([
        f"OLD {old}: release 1.0.0, {old_digest}",
        f"NEW {new}: release 1.0.0, {new_digest}",
        "",
        "Rules added (0)",
        "Rules removed (0)",
        "Rules changed (1):",
        "  ~ pattern.spine_up_hip_down (version 1 -> 2)",
        '      when[1].where.region: "hip" -> (absent)',
        '      when[1].where.site: (absent) -> "femoral_neck"',
        "",
        "Behaviour: 4 of 6 test cases conclude differently:",
        "  - check.fall_risk (considered) in 1 case",
        "  - pattern.spine_up_hip_down (considered) in 4 cases",
        f"  {tests}/check/check.fall_risk.considered.test.yaml :: fracture risk not recorded",
        "    - check.fall_risk (considered)",
        "    - pattern.spine_up_hip_down (considered)",
        f"  {tests}/check/check.fall_risk.considered.test.yaml :: fracture risk recorded as high",
        "    - pattern.spine_up_hip_down (considered)",
        f"  {tests}/measurement/measurement.significant_decrease.test.yaml :: total hip fell by more than its LSC",
        "    - pattern.spine_up_hip_down (considered)",
        f"  {tests}/pattern/pattern.spine_up_hip_down.test.yaml :: spine up and hip down",
        "    - pattern.spine_up_hip_down (considered)",
        ""])


def test_diff_lists_added_removed_rules_parameters_and_unbumped_versions(two_kbs):
    old, new = two_kbs
    (new / "knowledge/rules/check/check.fall_risk.considered.yaml").unlink()
    (new / "knowledge/rules/check/check.fall_risk.considered.test.yaml").unlink()
    shutil.copy(old / "knowledge/rules/check/check.fall_risk.considered.yaml",
                new / "knowledge/rules/check/check.fall_risk.review.yaml")
    edit(new / "knowledge/rules/check/check.fall_risk.review.yaml", "id: check.fall_risk.considered",
         "id: check.fall_risk.review")
    edit(new / "knowledge/rules/measurement/measurement.significant_increase.yaml",
         "title: A change of at least one LSC upward is a significant decrease",
         "title: A change of at least one LSC upward is a significant increase")
    edit(new / "knowledge/facts/parameters.yaml", "unit: LSC", "unit: LSCs")
    d = kbdiff.diff(old, new)
    assert (d.added, d.removed) == (["check.fall_risk.review"], ["check.fall_risk.considered"])
    assert d.changed["measurement.significant_increase"] == {"version": (1, 1), "fields": [
        ("title", "A change of at least one LSC upward is a significant decrease",
         "A change of at least one LSC upward is a significant increase")]}
    assert d.other == {"parameter significance_threshold_lsc": [("unit", "LSC", "LSCs")]}
    doc = d.to_dict()
    assert [c["id"] for c in doc["rules"]["changed"]] == ["measurement.significant_increase", "pattern.spine_up_hip_down"]
    assert doc["rules"]["changed"][1]["fields"] == [
        {"field": "version", "old": 1, "new": 2},
        {"field": "when[1].where.region", "old": "hip"}, {"field": "when[1].where.site", "new": "femoral_neck"}]
    # the removed rule's cases still run under both sides: the union of the tests is compared
    assert d.cases_compared == 6


def test_diff_of_identical_knowledge_bases_is_empty(mini_kb_root):
    root = authoring_kb.build(mini_kb_root)
    d = kbdiff.diff(root, root)
    assert d.empty and d.cases_compared == 6


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env).stdout.decode()


def test_diff_between_git_revisions(two_kbs, tmp_path, runner):
    old, new = two_kbs
    repo = tmp_path / "repo"
    shutil.copytree(old, repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "old")
    shutil.copy(new / "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml",
                repo / "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml")
    git(repo, "commit", "-q", "-am", "new")
    head, parent = git(repo, "rev-parse", "HEAD").strip(), git(repo, "rev-parse", "HEAD~1").strip()
    result = runner.invoke(cli, ["diff", "HEAD~1", "HEAD", "--repo", str(repo), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["old"]["label"], doc["new"]["label"]) == (f"HEAD~1 ({parent[:12]})", f"HEAD ({head[:12]})")
    assert doc["rules"]["changed"][0]["id"] == "pattern.spine_up_hip_down"
    assert len(doc["behaviour"]["changed"]) == 4
    # a revision and a folder mix
    mixed = runner.invoke(cli, ["diff", "HEAD~1", str(new), "--repo", str(repo), "--format", "json"])
    assert json.loads(mixed.output)["behaviour"] == doc["behaviour"]


def test_diff_refuses_what_is_neither_a_root_nor_a_revision(tmp_path, runner, mini_kb_root):
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    result = runner.invoke(cli, ["diff", "no-such-rev", str(mini_kb_root), "--repo", str(tmp_path / "repo")])
    assert result.exit_code == 2
    assert result.output == f"Error: no-such-rev: OLD is neither a knowledge-base root nor a git revision of {tmp_path / 'repo'}\n"
    result = runner.invoke(cli, ["diff", str(mini_kb_root), str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path}: NEW is a folder but not a knowledge-base root (no knowledge/ folder)\n"


def test_diff_of_a_rule_edited_in_a_copy_of_the_shipped_knowledge_base(shipped_kb_copy, runner, kb):
    edit(shipped_kb_copy / POTENT, "in: [high, very_high]", "in: [very_high]")
    edit(shipped_kb_copy / POTENT, "version: 2", "version: 3")
    result = runner.invoke(cli, ["diff", str(REPO), str(shipped_kb_copy), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    (changed,) = doc["rules"]["changed"]
    assert changed["id"] == "treatment.consider_potent_agent" and changed["version"] == [2, 3]
    assert [(f["field"].split("]", 1)[-1], f["old"], f["new"]) for f in changed["fields"]] == [
        ("version", 2, 3), (".where.fracture_risk.in", ["high", "very_high"], ["very_high"])]
    assert changed["fields"][1]["field"].startswith("when[")
    # independently: the cases that change are exactly those where the edited rule gave the potent-agent
    # advice at high risk (its sibling for an unrecorded agent is not edited)
    run = rule_tests.run(kb, rule_tests.load_test_files(REPO, kb=kb))
    expected = sorted(o.test.key for o in run.outcomes
                      if "treatment.consider_potent_agent" in o.fired and o.test.case["risk"]["fracture_risk"] == "high")
    assert expected
    assert [c["case"] for c in doc["behaviour"]["changed"]] == expected
    assert {json.dumps(c["removed"]) for c in doc["behaviour"]["changed"]} == {
        json.dumps([{"code": "treatment.consider_potent_agent", "support": "considered"}])}
    assert all(c["added"] == [] for c in doc["behaviour"]["changed"])
