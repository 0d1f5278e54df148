"""`bmdkb review ...`: decisions, refusals (exit 2, ledger untouched), dashboard, log, verify,
and several `bmdkb review` processes writing at once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from bmdkb.cli.main import cli
from bmdkb.engine.review import governance
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.review import ledger, rosterlog

import keyring
from conftest import DEMO_CASE

RULE = "pattern.spine_up_hip_down"
BO, CY = "Dr Bo Reviewer", "Dr Cy Approver"
MARCH_1 = "2026-03-01T09:00:00Z"


@pytest.fixture
def review(runner, mini_kb_root, monkeypatch):
    """Run `bmdkb review ARGS` against the mini knowledge base at a given time (writes dated by the
    test-only write clock, reads by $BMDKB_NOW), a decision signed with its --by member's key."""
    def run(*args, now=MARCH_1, root=None):
        root = root or mini_kb_root
        keyring.ensure(root)
        keyring.fixed_clock(monkeypatch, now)
        reading = args[0] not in keyring.DECISIONS   # a decision is dated by the write clock, never $BMDKB_NOW
        return runner.invoke(cli, ["review", *args, *keyring.cli_args(root, args), "--kb", str(root)],
                             env={"BMDKB_NOW": now if reading else None})
    return run


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(result, status=2) -> str:
    assert result.exit_code == status, result.output
    assert result.stdout == ""
    return result.stderr


def failed_verification(result) -> str:
    return refused(result, status=3)  # findings (engine/common/exitstatus.py), not bad input


def ledger_bytes(root):
    path = root / ledger.LEDGER_FILE
    return path.read_bytes() if path.exists() else None


def test_a_rule_goes_from_submitted_to_approved(review):
    assert ok(review("submit", RULE, "--by", "Test Author", "--note", "First version.")) == (
        "pattern.spine_up_hip_down v1: submitted by Test Author (ledger entry 1)\n"
        "Status: submitted; waiting for a board member other than Test Author to start review\n")
    assert ok(review("start", RULE, "--by", BO)) == (
        "pattern.spine_up_hip_down v1: review started by Dr Bo Reviewer (ledger entry 2)\n"
        "Status: under_review; waiting for 1 more approval from board members other than Test Author\n")
    assert ok(review("approve", RULE, "--by", CY, "--coi", "none")) == (
        "pattern.spine_up_hip_down v1: approved by Dr Cy Approver (ledger entry 3)\n"
        "Declared conflict of interest: none; review by 2027-03-01\n"
        "Status: approved\n")


@pytest.mark.parametrize("steps, args, message", [
    ([], ["approve", RULE, "--by", CY, "--coi", "none"],
     "cannot approve: status is draft (submit it and start review first)"),
    ([["submit", RULE, "--by", "Test Author"], ["start", RULE, "--by", BO]],
     ["approve", RULE, "--by", "Test Author", "--coi", "none"],
     "cannot approve: Test Author is the rule's author, and authors cannot approve their own rules"),
    ([["submit", RULE, "--by", "Test Author"], ["start", RULE, "--by", BO]], ["approve", RULE, "--by", CY],
     'cannot approve without a conflict-of-interest declaration: add --coi none, or --coi "the declared interest"'),
    ([["submit", RULE, "--by", "Test Author"], ["retire", RULE, "--by", BO, "--note", "Superseded."]],
     ["submit", RULE, "--by", "Test Author"],
     "cannot submit: the rule was retired on 2026-03-01 by Dr Bo Reviewer, and a retired rule takes no further "
     "decisions"),
    ([], ["submit", RULE, "--by", "   "], "cannot submit: --by is empty; give the name of the person deciding"),
])
def test_illegal_decisions_exit_2_with_one_clear_line_and_leave_the_ledger_untouched(
        review, mini_kb_root, steps, args, message):
    for step in steps:
        ok(review(*step))
    before = ledger_bytes(mini_kb_root)
    assert refused(review(*args)) == f"Error: {RULE}: {message}\n"
    assert ledger_bytes(mini_kb_root) == before


def test_an_unknown_rule_is_refused(review, mini_kb_root):
    assert refused(review("submit", "check.no_such_rule", "--by", "Test Author")) == (
        f"Error: check.no_such_rule: cannot submit: no rule with this id in the knowledge base at {mini_kb_root}\n")
    assert ledger_bytes(mini_kb_root) is None


def test_submit_needs_a_rule_or_all_and_every_decision_needs_a_key(review, mini_kb_root, monkeypatch):
    result = review("submit", "--by", "Test Author")
    assert result.exit_code == 2 and "Error: give either a RULE or --all" in result.stderr
    before = ledger_bytes(mini_kb_root)
    assert refused(review("submit", RULE)) == (
        f"Error: {RULE}: --key: a decision is signed by the member who makes it: give --key FILE (the private key "
        "from `bmdkb review keygen`) or set $BMDKB_SIGNING_KEY to its path\n")
    assert ledger_bytes(mini_kb_root) == before
    # Without --by, the key says who; $BMDKB_SIGNING_KEY names the key file as --key does.
    monkeypatch.setenv("BMDKB_SIGNING_KEY", str(keyring.key_file(mini_kb_root, "Test Author")))
    assert ok(review("submit", RULE)).startswith(f"{RULE} v1: submitted by Test Author (ledger entry 1)\n")


def test_submit_all_generates_the_starting_ledger(review, mini_kb_root):
    assert ok(review("submit", "--all", "--by", "Test Author")) == textwrap.dedent("""\
        measurement.significant_decrease v1: submitted (ledger entry 1)
        measurement.significant_increase v1: submitted (ledger entry 2)
        pattern.spine_up_hip_down v1: submitted (ledger entry 3)
        check.fall_risk.considered v1: submitted (ledger entry 4)
        Submitted 4 of 4 rules by Test Author.
        """)
    assert ok(review("submit", "--all", "--by", "Test Author")) == (
        "Submitted 0 of 4 rules by Test Author; 4 left as they are (4 submitted).\n")


# ---------------------------------------------------------------- the dashboard

def board_scenario(review, root):
    ok(review("submit", "--all", "--by", "Test Author"))
    ok(review("start", RULE, "--by", BO))
    ok(review("approve", RULE, "--by", CY, "--coi", "none"))
    ok(review("start", "check.fall_risk.considered", "--by", BO))
    ok(review("request-changes", "check.fall_risk.considered", "--by", BO, "--note", "Also cite the falls passage."))
    ok(review("start", "measurement.significant_increase", "--by", BO))
    ok(review("approve", "measurement.significant_increase", "--by", CY, "--coi", "Consults for a DXA vendor",
              "--review-by", "2026-04-15"))
    ok(review("start", "measurement.significant_decrease", "--by", BO))
    ok(review("approve", "measurement.significant_decrease", "--by", BO, "--coi", "none"))
    rule_file = root / "knowledge/rules/measurement/measurement.significant_decrease.yaml"
    rule_file.write_text(rule_file.read_text().replace("A decrease at least as large as the facility LSC is significant.",
                                                       "A decrease of one LSC or more is significant."))


def test_the_dashboard_shows_counts_waiting_changed_lapsing_and_interests(review, mini_kb_root):
    board_scenario(review, mini_kb_root)
    head = ledger.read(mini_kb_root / ledger.LEDGER_FILE).head
    kb = knowledge_base.load(mini_kb_root)
    out = ok(review("status", now="2026-03-20"))
    assert out == textwrap.dedent(f"""\
        Editorial status of bmdkb-discordant-bmd 1.0.0 (4 rules), as of 2026-03-20
        Policy: quorum 1 distinct approver (never the author); approvals last at most 12 months
        Ledger: provenance/review-ledger.jsonl, 12 entries, chain and signatures verified, signed from entry
          1, head {head[:19]}…

        Rules by status
          changes_requested                      1
          approved                               1
          approved (changed since approval)      2

        Waiting, oldest first
          changes_requested (1): waiting for the author (Test Author) to revise and submit it again
            since 2026-03-01 (19 days)    check.fall_risk.considered v1
                                          requested: Also cite the falls passage.

        Changed since approval (no longer approved; the author resubmits)
          measurement.significant_decrease v1: approved 2026-03-01 by Dr Bo Reviewer; its content digest is
              now {kb.rules['measurement.significant_decrease'].digest[:19]}…, not the approved sha256:4a55c0cde883…
          pattern.spine_up_hip_down v1: approved 2026-03-01 by Dr Cy Approver; what it depends on changed:
              rule measurement.significant_decrease

        Approvals lapsing within 60 days
          measurement.significant_increase v1: review by 2026-04-15 (in 26 days; approved by Dr Cy Approver)

        Declared interests
          measurement.significant_increase: Dr Cy Approver declared: Consults for a DXA vendor
        """)
    assert max(len(line) for line in out.splitlines()) <= 100

    later = ok(review("status", now="2026-04-16"))
    assert textwrap.dedent("""\
        Approvals lapsed (pending review again)
          measurement.significant_increase v1: review-by date 2026-04-15 passed; lapsed on 2026-04-16
              (approved 2026-03-01 by Dr Cy Approver)
        """) in later
    assert "  approved (lapsed)                      1\n" in later


def test_the_dashboard_as_json(review, mini_kb_root):
    board_scenario(review, mini_kb_root)
    board = json.loads(ok(review("status", "--format", "json", now="2026-03-20")))
    assert board["counts"] == {"changes_requested": 1, "approved": 1, "approved (changed since approval)": 2}
    assert board["waiting"] == ["check.fall_risk.considered"]
    assert board["changed_since_approval"] == ["measurement.significant_decrease", RULE]  # RULE chains on it
    assert board["lapsing"] == ["measurement.significant_increase"]
    assert board["declared_interests"] == [{"rule": "measurement.significant_increase", "by": CY,
                                            "coi": "Consults for a DXA vendor"}]
    fall = next(r for r in board["rules"] if r["id"] == "check.fall_risk.considered")
    assert (fall["status"], fall["since"], fall["days_in_status"], fall["note"]) == (
        "changes_requested", MARCH_1, 19, "Also cite the falls passage.")


def test_the_dashboard_flags_a_broken_ledger(review, mini_kb_root):
    board_scenario(review, mini_kb_root)
    path = mini_kb_root / ledger.LEDGER_FILE
    path.write_bytes(path.read_bytes().replace(b"Consults for a DXA vendor", b"nothing"))
    out = ok(review("status", now="2026-03-20"))
    assert ("Ledger: provenance/review-ledger.jsonl FAILS VERIFICATION: entry 10 (line 10): its content does not\n"
            "  match its hash: the entry was edited. No rule counts as approved until it is repaired.\n") in out
    assert "  unverified                             4\n" in out
    assert "  unverified (4): waiting for the board to repair the review ledger\n" in out
    assert "    since unknown                 pattern.spine_up_hip_down v1\n" in out


# ---------------------------------------------------------------- log and verify

def test_the_log_lists_decisions_oldest_first(review, mini_kb_root):
    board_scenario(review, mini_kb_root)
    digest = knowledge_base.load(mini_kb_root).rules["measurement.significant_increase"].digest[:19]
    assert ok(review("log", "measurement.significant_increase")) == (
        "   2  2026-03-01T09:00:00Z  submit           measurement.significant_increase v1\n"
        f"      by Test Author; content {digest}…\n"
        "   9  2026-03-01T09:00:00Z  start            measurement.significant_increase v1\n"
        f"      by Dr Bo Reviewer; content {digest}…\n"
        "  10  2026-03-01T09:00:00Z  approve          measurement.significant_increase v1\n"
        "      by Dr Cy Approver; conflict of interest: Consults for a DXA vendor; review by 2026-04-15;\n"
        f"      content {digest}…\n")
    everything = json.loads(ok(review("log", "--format", "json")))
    assert [e["seq"] for e in everything] == list(range(1, 13))
    assert everything[7]["note"] == "Also cite the falls passage."
    assert refused(review("log", "check.no_such_rule")) == (
        "Error: check.no_such_rule: no rule with this id in the knowledge base, and no decision about it in the ledger\n")
    assert ok(review("log", RULE, root=mini_kb_root)).startswith("   3  2026-03-01T09:00:00Z  submit")


def test_verify_passes_then_names_the_tampered_entry(review, mini_kb_root):
    board_scenario(review, mini_kb_root)
    head = ledger.read(mini_kb_root / ledger.LEDGER_FILE).head
    assert ok(review("verify")) == (
        f"provenance/review-ledger.jsonl: 12 entries, hash chain intact\nhead {head}\n"
        "signatures: entries 1 to 12 signed and verified (1 roster adopted)\n"
        f"genesis roster {rosterlog.read(mini_kb_root / rosterlog.ROSTER_LOG).entries[0]['roster']} (pin it to detect "
        "a rewritten history)\n")
    assert ok(review("verify", "--head", head)).startswith("provenance/review-ledger.jsonl: 12 entries")

    path = mini_kb_root / ledger.LEDGER_FILE
    rows = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(rows[:6] + rows[7:]))  # entry 7 deleted
    assert failed_verification(review("verify")) == (
        "Error: provenance/review-ledger.jsonl: line 7 holds entry 8, not entry 7: entries before it were deleted, "
        "inserted or reordered (entries 1 to 6 are intact)\n")
    path.write_bytes(b"".join(rows[:-1]))  # the last entry deleted: only the recorded head shows it
    assert ok(review("verify")).startswith("provenance/review-ledger.jsonl: 11 entries, hash chain intact")
    assert failed_verification(review("verify", "--head", head)) == (
        f"Error: provenance/review-ledger.jsonl: no entry has the recorded head hash {head}: entries at the end "
        "were deleted, or the ledger was rewritten (entries 1 to 11 are intact)\n")


def test_a_torn_write_is_reported_by_verify_and_mended_by_the_next_decision(review, mini_kb_root):
    ok(review("submit", RULE, "--by", "Test Author"))
    path = mini_kb_root / ledger.LEDGER_FILE
    path.write_bytes(path.read_bytes() + b'{"seq":2,"time":"2026-03-01T09:0')
    assert ok(review("verify")).endswith(
        "Note: line 2 is an interrupted write (32 bytes, not an entry): ignored; the next review decision removes it\n")
    result = review("start", RULE, "--by", BO)
    assert result.exit_code == 0
    assert result.stderr == ("Note: removed an interrupted write (32 bytes) from the end of "
                             "provenance/review-ledger.jsonl before recording\n")
    assert ok(review("verify")).startswith("provenance/review-ledger.jsonl: 2 entries, hash chain intact\n")


# ---------------------------------------------------------------- at run time

def test_evaluate_marks_unapproved_conclusions_and_approved_only_withholds_them(runner, review, mini_kb_root):
    def evaluate(*extra, now=MARCH_1):
        result = runner.invoke(cli, ["evaluate", str(DEMO_CASE), "--format", "json", "--kb", str(mini_kb_root),
                                     *extra], env={"BMDKB_NOW": now})
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    ok(review("submit", "--all", "--by", "Test Author"))
    preview = evaluate()
    assert preview["conclusions"]
    assert {(c["rule"]["status"], c["caution"]) for c in preview["conclusions"]} == {
        ("submitted", "pending editorial review")}
    withheld = evaluate("--approved-only")
    assert withheld["conclusions"] == [] and withheld["summary"]["withheld"] == len(preview["conclusions"])

    for rule_id in knowledge_base.load(mini_kb_root).rules:
        ok(review("start", rule_id, "--by", BO))
        ok(review("approve", rule_id, "--by", CY, "--coi", "none"))
    approved = evaluate("--approved-only")
    assert len(approved["conclusions"]) == len(preview["conclusions"]) and approved["summary"]["withheld"] == 0
    assert all("caution" not in c for c in approved["conclusions"])
    lapsed = evaluate(now="2027-03-02")
    assert {c["caution"] for c in lapsed["conclusions"]} == {
        "pending editorial review: its approval lapsed on 2027-03-02 (review-by date 2027-03-01 passed)"}


def test_the_shipped_knowledge_base_can_be_submitted_whole(runner, shipped_kb_copy):
    (shipped_kb_copy / ledger.LEDGER_FILE).unlink(missing_ok=True)
    keyring.ensure(shipped_kb_copy)   # the board's members make keys and an editor adopts the roster
    rules = len(knowledge_base.load(shipped_kb_copy).rules)
    result = runner.invoke(cli, ["review", "submit", "--all", "--by", "bmdkb clinical content team", "--key",
                                 str(keyring.key_file(shipped_kb_copy, "content-team")),
                                 "--kb", str(shipped_kb_copy)])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"Submitted {rules} of {rules} rules by bmdkb clinical content team.\n")
    board = governance.dashboard(knowledge_base.load(shipped_kb_copy))
    assert board["counts"] == {"submitted": rules} and board["ledger"]["verified"]


def test_the_shipped_content_starts_as_submitted(kb):
    """The shipped ledger says what the article says: submitted, no board has reviewed it."""
    found = governance.statuses(kb)
    assert {rule_id: st.status for rule_id, st in found.items()} == {rule_id: "submitted" for rule_id in kb.rules}
    assert ledger.verify(kb.root / ledger.LEDGER_FILE).ok


# ---------------------------------------------------------------- several processes at once

def _bmdkb(root, *args):
    env = {**os.environ, "BMDKB_KB": str(root)}
    args = [*args, *keyring.cli_args(root, args)]
    return subprocess.Popen([sys.executable, "-c", "from bmdkb.cli.main import main; main()", "review", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_review_commands_all_land(mini_kb_root):
    keyring.ensure(mini_kb_root)
    rules = list(knowledge_base.load(mini_kb_root).rules)
    procs = [_bmdkb(mini_kb_root, "submit", rule_id, "--by", "Test Author") for rule_id in rules]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * len(rules), results

    # Five reviewers start the same rule at once: the check and the append happen under one lock,
    # so exactly one wins and the others are refused.
    reviewers = [f"Dr Reviewer {i}" for i in range(5)]
    procs = [_bmdkb(mini_kb_root, "start", RULE, "--by", who) for who in reviewers]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 2, 2, 2, 2], results
    winner = reviewers[[code for code, _, _ in results].index(0)]
    started = ledger.read(mini_kb_root / ledger.LEDGER_FILE).entries[-1]["time"][:10]   # the system clock's day
    for code, _, err in results:
        if code == 2:
            assert err == (f"knowledge base: {mini_kb_root} (from $BMDKB_KB)\n"
                           f"Error: {RULE}: cannot start review: it is already under review (started by {winner} "
                           f"on {started})\n")

    reading = ledger.verify(mini_kb_root / ledger.LEDGER_FILE)
    assert reading.ok and reading.notes() == []
    assert sorted(e["rule"] for e in reading.entries if e["action"] == "submit") == sorted(rules)
    assert [(e["action"], e["by"]) for e in reading.entries[len(rules):]] == [("start", winner)]
