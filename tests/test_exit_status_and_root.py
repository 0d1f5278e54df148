"""Exit statuses that survive a broken pipe, and the knowledge-base root every command names:
the current directory when it is one, --kb or $BMDKB_KB; never the installed package for a
write, and never a write through a symlink leading out of the root."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import click
from bmdkb.cli.main import cli
from bmdkb.engine.common import exitstatus
from bmdkb.engine.kb import root as kbroot
from bmdkb.engine.review import ledger

from conftest import DEMO_CASE, REPO

BMDKB = [sys.executable, "-c", "from bmdkb.cli.main import main; main()"]
RULE = "pattern.spine_up_hip_down"


def run_into_closed_pipe(args, cwd=REPO, env=None):
    """Run bmdkb with stdout a pipe whose reader is already gone (`| head` that has quit)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(BMDKB + args, stdout=write_end, stderr=subprocess.PIPE, cwd=cwd, timeout=120,
                              env={**os.environ, **(env or {})})
    finally:
        os.close(write_end)
    return done


def test_a_failing_lint_stays_failing_when_the_pipe_breaks():
    done = run_into_closed_pipe(["lint", "--fail-on", "warning"])
    assert done.returncode == exitstatus.FINDINGS, done.stderr
    assert b"Traceback" not in done.stderr and b"internal error" not in done.stderr
    passing = run_into_closed_pipe(["lint"])  # no finding at --fail-on error: a closed pipe is nothing wrong
    assert passing.returncode == exitstatus.OK, passing.stderr


def test_a_failing_rule_test_stays_failing_when_the_pipe_breaks(akb, monkeypatch):
    tests = akb / "knowledge/rules/pattern/pattern.spine_up_hip_down.test.yaml"
    tests.write_text(tests.read_text().replace("{pattern.spine_up_hip_down: considered}",
                                               "{pattern.spine_up_hip_down: supported}"))

    echo = click.echo

    def reader_gone(message=None, *args, err=False, **kwargs):  # `bmdkb test | head` with head gone
        if not err:
            raise BrokenPipeError(32, "Broken pipe")
        echo(message, *args, err=err, **kwargs)

    monkeypatch.setattr(click, "echo", reader_gone)
    result = CliRunner().invoke(cli, ["test", "--kb", str(akb)])
    assert result.exit_code == exitstatus.FINDINGS


def test_every_command_documents_its_exit_statuses(runner):
    for command in (["evaluate"], ["validate"], ["explain"], ["batch"], ["lint"], ["test"], ["release"], ["diff"],
                    ["review"], ["review", "verify"], ["serve"], ["feedback"]):
        text = runner.invoke(cli, [*command, "--help"]).output
        assert "Exit status:" in text and "  1 a defect of bmdkb" in text, command
    assert "  3 findings at or above --fail-on" in runner.invoke(cli, ["lint", "--help"]).output
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for code in (exitstatus.OK, exitstatus.DEFECT, exitstatus.BAD_INPUT, exitstatus.FINDINGS):
        assert f"| {code} " in readme


# ---------------------------------------------------------------- the root a command uses

def test_every_command_says_which_root_it_used(mini_kb_root, monkeypatch, tmp_path):
    plain = CliRunner()
    result = plain.invoke(cli, ["evaluate", str(DEMO_CASE), "--format", "json", "--kb", str(mini_kb_root)])
    assert result.stderr == f"knowledge base: {mini_kb_root} (from --kb)\n"
    assert result.stdout.startswith("{")  # the JSON on stdout is untouched
    result = plain.invoke(cli, ["lint"], env={"BMDKB_KB": str(mini_kb_root)})
    assert result.stderr.startswith(f"knowledge base: {mini_kb_root} (from $BMDKB_KB)\n")
    monkeypatch.chdir(mini_kb_root)
    result = plain.invoke(cli, ["review", "status"], env={"BMDKB_KB": None})
    assert result.stderr.startswith(f"knowledge base: {mini_kb_root} (the current directory)\n")
    assert "(4 rules)" in result.stdout  # the checkout's own 4 rules, not the installed 48
    monkeypatch.chdir(tmp_path)
    result = plain.invoke(cli, ["review", "status"], env={"BMDKB_KB": None})
    assert result.stderr.startswith(f"knowledge base: {kbroot.PACKAGE_ROOT} (the installed package)\n")


def test_a_write_needs_a_root_it_can_name(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a knowledge-base root, and no --kb or $BMDKB_KB
    for args in (["review", "submit", RULE, "--by", "A"], ["release", "9.0.0"]):
        result = runner.invoke(cli, args, env={"BMDKB_KB": None})
        assert result.exit_code == exitstatus.BAD_INPUT, result.output
        assert "none was named" in result.stderr and "--kb DIR" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_write_into_the_installed_package_is_refused(runner, mini_kb_root, monkeypatch):
    monkeypatch.setattr(kbroot, "_install_dirs", lambda: [str(mini_kb_root.parent.resolve())])
    before = sorted(p.relative_to(mini_kb_root) for p in mini_kb_root.rglob("*"))
    result = runner.invoke(cli, ["review", "submit", RULE, "--by", "A", "--kb", str(mini_kb_root)])
    assert result.exit_code == exitstatus.BAD_INPUT
    assert "is the installed bmdkb package (from --kb): refusing to write into it" in result.stderr
    assert sorted(p.relative_to(mini_kb_root) for p in mini_kb_root.rglob("*")) == before
    # reading it is fine
    assert runner.invoke(cli, ["review", "status", "--kb", str(mini_kb_root)]).exit_code == 0


@pytest.mark.parametrize("target", [ledger.LEDGER_FILE, "provenance/.review-ledger.jsonl.lock"])
def test_a_decision_is_not_written_through_a_symlink_leading_outside(runner, mini_kb_root, tmp_path, target):
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"")
    (mini_kb_root / target).symlink_to(outside)
    result = runner.invoke(cli, ["review", "submit", RULE, "--by", "A", "--kb", str(mini_kb_root)])
    assert result.exit_code == exitstatus.BAD_INPUT
    assert f"Error: {target}: leads outside the knowledge-base root" in result.stderr
    assert outside.read_bytes() == b""


def test_a_release_is_not_written_through_a_symlinked_folder(runner, akb, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (akb / "knowledge").rename(elsewhere)
    (akb / "knowledge").symlink_to(elsewhere)  # the whole knowledge/ folder lives outside the root
    before = (elsewhere / "kb.yaml").read_bytes()
    result = runner.invoke(cli, ["release", "9.0.0", "--kb", str(akb)])
    assert result.exit_code == exitstatus.BAD_INPUT
    assert "Error: knowledge/kb.yaml: leads outside the knowledge-base root" in result.stderr
    assert (elsewhere / "kb.yaml").read_bytes() == before and not (elsewhere / "CHANGELOG.md").exists()

