"""Issue 12, identity: only rostered members decide, names are compared as members, never as spellings."""
from __future__ import annotations

import datetime as dt

import pytest

from bmdkb.cli.main import cli
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.review import governance, ledger, roster
from bmdkb.engine.review.roster import IdentityError

import keyring

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
RULE = "pattern.spine_up_hip_down"
BOARD = "knowledge/board.yaml"


def act(root, action, by, **kw):
    """Decide as ``by``, signed with that member's key under the adopted roster (board.yaml edits adopted first)."""
    keyring.ensure(root)
    return governance.decide(knowledge_base.load(root), action, RULE, by, now=NOW, key=keyring.key(root, by), **kw)


def under_review(root):
    act(root, "submit", "Test Author")
    act(root, "start", "Dr Bo Reviewer")


def set_policy(root, quorum):
    (root / "knowledge" / "policy.yaml").write_text(f"kind: policy\nversion: 1\nquorum: {quorum}\n")


def add_member(root, line):
    path = root / BOARD
    path.write_text(path.read_text() + line + "\n")


@pytest.mark.parametrize("char", ["\u200b", "\u2060", "\ufeff", "\u202e", "\u200d"])
def test_an_invisible_character_does_not_let_the_author_approve_their_own_rule(mini_kb_root, char):
    under_review(mini_kb_root)
    with pytest.raises(IdentityError) as err:
        act(mini_kb_root, "approve", f"Test{char}Author", coi="none")
    assert f"U+{ord(char):04X}" in str(err.value) and "--by" in str(err.value)
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].status == "under_review"


def test_an_invisible_character_is_refused_on_the_command_line_with_exit_2(runner, mini_kb_root):
    under_review(mini_kb_root)
    before = (mini_kb_root / "provenance" / "review-ledger.jsonl").read_bytes()
    result = runner.invoke(cli, ["review", "approve", RULE, "--by", "Dr Cy\u200b Approver", "--coi", "none",
                                 "--kb", str(mini_kb_root)], env={"BMDKB_NOW": "2026-03-01"})
    assert result.exit_code == 2 and result.stdout == ""
    assert "--by" in result.stderr and "U+200B" in result.stderr
    assert (mini_kb_root / "provenance" / "review-ledger.jsonl").read_bytes() == before


def test_an_unrostered_name_cannot_start_approve_or_request_changes(mini_kb_root):
    act(mini_kb_root, "submit", "Test Author")
    for action, kw in (("start", {}), ("request-changes", {"note": "No."})):
        with pytest.raises(IdentityError, match="not a member of the editorial board"):
            act(mini_kb_root, action, "Dr Eve Outsider", **kw)
    act(mini_kb_root, "start", "Dr Bo Reviewer")
    with pytest.raises(IdentityError, match="not a member of the editorial board"):
        act(mini_kb_root, "approve", "Dr Eve Outsider", coi="none")


def test_one_person_under_two_spellings_cannot_meet_a_quorum_of_two(mini_kb_root):
    set_policy(mini_kb_root, 2)
    add_member(mini_kb_root, "  - {id: lena-ortiz, name: Dr Lena Ortiz, roles: [reviewer]}")
    under_review(mini_kb_root)
    act(mini_kb_root, "approve", "Dr Lena Ortiz", coi="none")
    with pytest.raises(IdentityError, match="not a member"):   # not an alias: an unrostered name
        act(mini_kb_root, "approve", "Dr. Lena Ortiz", coi="none")
    with pytest.raises(governance.ReviewError, match="already approved"):   # NFKC, case and spacing
        act(mini_kb_root, "approve", "ＤＲ  lena ortiz", coi="none")
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].status == "under_review"


def test_an_alias_is_the_same_member_so_it_cannot_approve_twice(mini_kb_root):
    set_policy(mini_kb_root, 2)
    add_member(mini_kb_root, '  - {id: lena-ortiz, name: Dr Lena Ortiz, aliases: ["Dr. Lena Ortiz"], '
                             'roles: [reviewer]}')
    under_review(mini_kb_root)
    assert act(mini_kb_root, "approve", "Dr. Lena Ortiz", coi="none").entry["by"] == "Dr Lena Ortiz"
    with pytest.raises(governance.ReviewError, match="already approved"):
        act(mini_kb_root, "approve", "Dr Lena Ortiz", coi="none")


def test_an_author_team_is_one_member_under_any_of_its_spellings(mini_kb_root):
    path = mini_kb_root / BOARD
    path.write_text(path.read_text().replace("name: Test Author,", 'name: Test Author, aliases: ["The Test Team"],'))
    under_review(mini_kb_root)
    with pytest.raises(governance.ReviewError, match="authors cannot approve"):
        act(mini_kb_root, "approve", "The Test Team", coi="none")


def test_approvals_in_the_ledger_by_no_rostered_reviewer_never_count(mini_kb_root):
    under_review(mini_kb_root)
    act(mini_kb_root, "approve", "Dr Cy Approver", coi="none")
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].approved
    path = mini_kb_root / BOARD   # Cy leaves the board: once the roster is adopted, the approval no longer counts
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "Cy Approver" not in line) + "\n")
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].approved   # board.yaml alone: no effect
    with pytest.raises(governance.ReviewError, match="differs from the roster in force"):
        governance.decide(knowledge_base.load(mini_kb_root), "submit", "check.fall_risk.considered", "Test Author",
                          now=NOW, key=keyring.key(mini_kb_root, "Test Author"))
    keyring.adopt(mini_kb_root)
    assert not governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].approved


def test_name_keys():
    assert roster.key(" Dr  ＬＥＮＡ\tOrtiz ") == "dr lena ortiz"
    assert roster.invisible("a\u200bb\u2066c") == ["U+200B", "U+2066"] and roster.invisible("Dr. Ortiz") == []


def test_the_shipped_roster_names_the_content_team_that_submitted_the_ledger(kb):
    members = roster.Roster(kb.board)
    assert members.member_id("bmdkb clinical content team") == "content-team"
    assert not members.may("approve", "bmdkb clinical content team")


# ---------------------------------------------------------------- the clock

def test_bmdkb_now_in_the_future_never_dates_an_approval(runner, mini_kb_root):
    """BMDKB_NOW=2099-01-01 once dated an approval valid until 2100; now the override is for reading only."""
    under_review(mini_kb_root)
    result = runner.invoke(cli, ["review", "approve", RULE, "--by", "Dr Cy Approver", "--coi", "none",
                                 "--key", str(keyring.key_file(mini_kb_root, "Dr Cy Approver")),
                                 "--kb", str(mini_kb_root)], env={"BMDKB_NOW": "2099-01-01"})
    assert result.exit_code == 0, result.output
    assert "$BMDKB_NOW is for reading" in result.stderr
    entry = ledger.read(mini_kb_root / ledger.LEDGER_FILE).entries[-1]
    real = governance.system_now()
    recorded = dt.datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
    assert dt.timedelta(0) <= real - recorded < dt.timedelta(minutes=5)       # dated by the system clock
    assert entry["review_by"] == governance.add_months(recorded.date(), 12).isoformat()   # not 2100
    assert governance.statuses(knowledge_base.load(mini_kb_root), dt.datetime(2099, 1, 1))[RULE].status == \
        governance.LAPSED


def test_a_python_caller_cannot_date_a_decision_in_the_future(mini_kb_root):
    under_review(mini_kb_root)
    before = (mini_kb_root / ledger.LEDGER_FILE).read_bytes()
    with pytest.raises(governance.ReviewError, match="later than the system clock"):
        governance.decide(knowledge_base.load(mini_kb_root), "approve", RULE, "Dr Cy Approver", coi="none",
                          now=dt.datetime(2099, 1, 1), key=keyring.key(mini_kb_root, "Dr Cy Approver"))
    assert (mini_kb_root / ledger.LEDGER_FILE).read_bytes() == before


def test_a_decision_cannot_be_dated_before_the_ledgers_last_entry(mini_kb_root):
    under_review(mini_kb_root)
    with pytest.raises(governance.ReviewError, match="before the ledger's last entry"):
        governance.decide(knowledge_base.load(mini_kb_root), "approve", RULE, "Dr Cy Approver", coi="none",
                          now=NOW - dt.timedelta(days=1), key=keyring.key(mini_kb_root, "Dr Cy Approver"))


def test_a_backdated_entry_appended_by_hand_fails_verify_with_exit_3(runner, mini_kb_root):

    under_review(mini_kb_root)
    path = mini_kb_root / ledger.LEDGER_FILE
    last = ledger.read(path).entries[-1]
    forged = {"seq": last["seq"] + 1, "time": "2026-02-01T09:00:00Z", "action": "approve", "rule": RULE,
              "rule_version": last["rule_version"], "rule_digest": last["rule_digest"], "by": "Dr Cy Approver",
              "note": None, "coi": "none", "review_by": "2027-02-01", "prev_hash": last["hash"]}
    forged["hash"] = ledger.entry_hash(forged)
    path.write_bytes(path.read_bytes() + ledger.serialize(forged))
    result = runner.invoke(cli, ["review", "verify", "--kb", str(mini_kb_root)])
    assert result.exit_code == 3, result.output
    assert "before entry 2" in result.output
    assert not governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].approved


# ---------------------------------------------------------------- what an approval binds

def test_remapping_a_treatment_class_takes_the_approval_back_and_status_names_it(runner, mini_kb_root):
    under_review(mini_kb_root)
    act(mini_kb_root, "approve", "Dr Cy Approver", coi="none")
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].approved
    classes = mini_kb_root / "knowledge" / "facts" / "treatment-classes.yaml"
    text = classes.read_text()
    assert "alendronate: bisphosphonate" in text
    classes.write_text(text.replace("alendronate: bisphosphonate", "alendronate: anabolic"))
    st = governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE]
    assert (st.status, st.approved) == (governance.CHANGED, False)
    assert "treatment_classes" in st.caution and st.caution.startswith(governance.PENDING)
    result = runner.invoke(cli, ["review", "status", "--kb", str(mini_kb_root)], env={"BMDKB_NOW": "2026-03-01"})
    assert result.exit_code == 0, result.output
    assert "what it depends on changed: domain data treatment_classes" in " ".join(result.stdout.split())
    classes.write_text(text)   # restored: the approval holds again
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].approved


def test_a_change_to_the_fact_type_vocabulary_takes_the_approval_back(mini_kb_root):
    under_review(mini_kb_root)
    act(mini_kb_root, "approve", "Dr Cy Approver", coi="none")
    path = mini_kb_root / "knowledge" / "fact-types.yaml"
    path.write_text(path.read_text() + "\n")   # a blank line is no change
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE].approved
    text = path.read_text()
    first_desc = next(line for line in text.splitlines() if "description:" in line)
    path.write_text(text.replace(first_desc, first_desc + " (edited)", 1))
    st = governance.statuses(knowledge_base.load(mini_kb_root), NOW)[RULE]
    assert not st.approved and "knowledge/fact-types.yaml" in st.caution


def test_changing_a_rule_it_chains_on_takes_the_approval_back_and_names_that_rule(mini_kb_root):
    under_review(mini_kb_root)
    act(mini_kb_root, "approve", "Dr Cy Approver", coi="none")
    upstream = mini_kb_root / "knowledge" / "rules" / "measurement" / "measurement.significant_decrease.yaml"
    text = upstream.read_text()
    upstream.write_text(text.replace("is significant.}", "is significant (edited).}"))
    found = governance.statuses(knowledge_base.load(mini_kb_root), NOW)
    assert not found[RULE].approved and found[RULE].detail["changed_dependencies"] == [
        "rule measurement.significant_decrease"]
    assert "rule measurement.significant_decrease changed" in found[RULE].caution
