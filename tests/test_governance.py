"""Editorial status from the review ledger: transitions, quorum, content binding, lapse by date."""
from __future__ import annotations

import datetime as dt

import pytest

from bmdkb.engine.review import governance

from bmdkb.engine.kb import knowledge_base

from bmdkb.engine.review import ledger, rosterlog, signing
from bmdkb.engine.run.evaluate import Evaluator
from bmdkb.engine.review.governance import CHANGED, LAPSED, PENDING, ReviewError
from bmdkb.engine.review.ledger import LedgerError
from bmdkb.engine.common.yamlio import load_file

import keyring
from conftest import DEMO_CASE

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
RULE = "pattern.spine_up_hip_down"
RULE_FILE = "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml"
AUTHOR = "Test Author"          # the author of every rule in the fixture knowledge base
BO, CY, DI = "Dr Bo Reviewer", "Dr Cy Approver", "Dr Di Second"

SETUPS = {
    "draft": [],
    "submitted": [("submit", AUTHOR, {})],
    "under_review": [("submit", AUTHOR, {}), ("start", BO, {})],
    "approved": [("submit", AUTHOR, {}), ("start", BO, {}), ("approve", CY, {"coi": "none"})],
    "changes_requested": [("submit", AUTHOR, {}), ("start", BO, {}), ("request-changes", BO, {"note": "Say why."})],
    "retired": [("submit", AUTHOR, {}), ("retire", BO, {"note": "Superseded."})],
}


def act(root, action, by, rule=RULE, now=NOW, **kw):
    """Decide as ``by`` would: signed with that member's key, under the adopted roster."""
    keyring.ensure(root)
    return governance.decide(knowledge_base.load(root), action, rule, by, now=now, key=keyring.key(root, by), **kw)


def setup(root, state, rule=RULE):
    for action, by, kw in SETUPS[state]:
        act(root, action, by, rule, **kw)


def status(root, rule=RULE, now=NOW):
    return governance.statuses(knowledge_base.load(root), now)[rule]


def ledger_file(root):
    return root / "provenance" / "review-ledger.jsonl"


def edit_rule(root, old: str, new: str, file=RULE_FILE):
    path = root / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def set_policy(root, **values):
    body = "".join(f"{k}: {v}\n" for k, v in values.items())
    (root / "knowledge" / "policy.yaml").write_text(f"kind: policy\nversion: 1\n{body}")


# ---------------------------------------------------------------- without decisions

def test_a_rule_without_ledger_entries_is_a_draft(mini_kb_root):
    found = governance.statuses(knowledge_base.load(mini_kb_root), NOW)
    assert set(found) == {"measurement.significant_decrease", "measurement.significant_increase", RULE,
                          "check.fall_risk.considered"}
    for st in found.values():
        assert (st.status, st.approved, st.caution) == ("draft", False, PENDING)
        assert st.detail["waiting_for"] == "the author (Test Author) to submit it"
    assert not ledger_file(mini_kb_root).exists()  # reading never creates the ledger


def test_the_shipped_rule_files_carry_no_status(kb):
    assert all("status" not in rule.data for rule in kb.rules.values())


# ---------------------------------------------------------------- legal transitions

@pytest.mark.parametrize("start, action, by, kw, after", [
    ("draft", "submit", AUTHOR, {}, "submitted"),
    ("submitted", "start", BO, {}, "under_review"),
    ("under_review", "approve", CY, {"coi": "none"}, "approved"),
    ("submitted", "request-changes", BO, {"note": "Cite it."}, "changes_requested"),
    ("under_review", "request-changes", BO, {"note": "Cite it."}, "changes_requested"),
    ("approved", "request-changes", DI, {"note": "A new trial."}, "changes_requested"),
    ("changes_requested", "submit", AUTHOR, {"note": "Cited now."}, "submitted"),
    ("draft", "retire", BO, {"note": "Out of scope."}, "retired"),
    ("under_review", "retire", BO, {"note": "Out of scope."}, "retired"),
    ("approved", "retire", BO, {"note": "Superseded."}, "retired"),
])
def test_legal_transitions(mini_kb_root, start, action, by, kw, after):
    setup(mini_kb_root, start)
    outcome = act(mini_kb_root, action, by, **kw)
    assert outcome.status.status == after
    assert status(mini_kb_root).status == after
    assert status(mini_kb_root).approved is (after == "approved")
    entry = outcome.entry
    assert (entry["seq"], entry["action"], entry["rule"], entry["by"]) == (len(SETUPS[start]) + 1, action, RULE, by)
    assert entry["time"] == "2026-03-01T09:00:00Z"


def test_an_approval_records_who_what_when_content_declaration_and_review_by(mini_kb_root):
    setup(mini_kb_root, "under_review")
    entry = act(mini_kb_root, "approve", CY, coi="Speaker fees from a DXA vendor", note="Reads well.").entry
    rule = knowledge_base.load(mini_kb_root).rules[RULE]
    assert {k: v for k, v in entry.items() if k not in ("prev_hash", "hash", "signature")} == {
        "seq": 3, "time": "2026-03-01T09:00:00Z", "action": "approve", "rule": RULE, "rule_version": 1,
        "rule_digest": rule.digest, "by": CY, "note": "Reads well.", "coi": "Speaker fees from a DXA vendor",
        "review_by": "2027-03-01",
        "dependencies": governance.dependencies(knowledge_base.load(mini_kb_root), rule),
        "signer": "cy", "roster": rosterlog.digest(knowledge_base.load(mini_kb_root).board)}
    assert signing.valid(keyring.key(mini_kb_root, CY).public, signing.payload("ledger-entry", entry),
                         entry["signature"])
    assert set(entry["dependencies"]) == {"knowledge/fact-types.yaml", "domain data treatment_classes",
                                          "domain data fhir_binding", "domain data fhir_units",
                                          "rule measurement.significant_decrease", "rule measurement.significant_increase"}
    st = status(mini_kb_root)
    assert (st.status, st.approved, st.caution) == ("approved", True, None)
    assert st.detail["review_by"] == "2027-03-01" and st.detail["approved_on"] == "2026-03-01"


def test_the_review_by_date_follows_the_policy_and_may_be_set_earlier(mini_kb_root):
    set_policy(mini_kb_root, review_period_months=6)
    setup(mini_kb_root, "under_review")
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "approve", CY, coi="none", review_by="2026-09-02")
    assert str(err.value) == (f"{RULE}: --review-by 2026-09-02 is later than the policy allows (2026-09-01, 6 months)")
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "approve", CY, coi="none", review_by="2026-03-01")
    assert str(err.value) == f"{RULE}: --review-by 2026-03-01 must be after today (2026-03-01)"
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "approve", CY, coi="none", review_by="soon")
    assert str(err.value) == f"{RULE}: --review-by 'soon' is not an ISO date (e.g. 2026-09-01)"
    assert act(mini_kb_root, "approve", CY, coi="none", review_by="2026-06-30").entry["review_by"] == "2026-06-30"


def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert governance.add_months(dt.date(2026, 3, 1), 12) == dt.date(2027, 3, 1)
    assert governance.add_months(dt.date(2026, 8, 31), 6) == dt.date(2027, 2, 28)
    assert governance.add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)


# ---------------------------------------------------------------- illegal transitions

ILLEGAL = [
    ("draft", "start", BO, {}, "cannot start review: status is draft (submit it first)"),
    ("draft", "approve", CY, {"coi": "none"}, "cannot approve: status is draft (submit it and start review first)"),
    ("draft", "request-changes", BO, {"note": "x"},
     "cannot request changes: status is draft (nothing is waiting for review)"),
    ("submitted", "submit", AUTHOR, {},
     "cannot submit: it is already submitted (since 2026-03-01) and waits for a reviewer"),
    ("submitted", "approve", CY, {"coi": "none"}, "cannot approve: status is submitted (start review first)"),
    ("submitted", "start", AUTHOR, {},
     "cannot start review: Test Author is the rule's author; another board member reviews it"),
    ("under_review", "start", CY, {}, "cannot start review: it is already under review (started by "
                                      "Dr Bo Reviewer on 2026-03-01)"),
    ("under_review", "submit", AUTHOR, {}, "cannot submit: it is under review (since 2026-03-01)"),
    ("under_review", "approve", AUTHOR, {"coi": "none"},
     "cannot approve: Test Author is the rule's author, and authors cannot approve their own rules"),
    ("under_review", "approve", "  test   AUTHOR ", {"coi": "none"},
     "cannot approve: Test Author is the rule's author, and authors cannot approve their own rules"),
    ("under_review", "approve", CY, {},
     'cannot approve without a conflict-of-interest declaration: add --coi none, or --coi "the declared interest"'),
    ("under_review", "approve", CY, {"coi": "   "},
     'cannot approve without a conflict-of-interest declaration: add --coi none, or --coi "the declared interest"'),
    ("under_review", "request-changes", BO, {},
     "cannot request changes without --note saying what should change"),
    ("under_review", "request-changes", AUTHOR, {"note": "x"},
     "cannot request changes: Test Author is the rule's author; a reviewer requests changes"),
    ("approved", "approve", DI, {"coi": "none"},
     "cannot approve: it is already approved (on 2026-03-01, review by 2027-03-01)"),
    ("approved", "submit", AUTHOR, {}, "cannot submit: it is approved and the approval holds (review by 2027-03-01)"),
    ("approved", "start", DI, {}, "cannot start review: it is approved and the approval holds"),
    ("changes_requested", "approve", CY, {"coi": "none"},
     "cannot approve: status is changes_requested (the author must revise and submit it again)"),
    ("changes_requested", "start", CY, {},
     "cannot start review: status is changes_requested (the author must revise and submit it again)"),
    ("changes_requested", "request-changes", CY, {"note": "x"},
     "cannot request changes: status is changes_requested (nothing is waiting for review)"),
    ("draft", "retire", BO, {}, "cannot retire without --note giving the reason"),
] + [("retired", action, CY, {"coi": "none", "note": "x"},
      f"cannot {verb}: the rule was retired on 2026-03-01 by Dr Bo Reviewer, and a retired rule takes no "
      "further decisions") for action, verb in governance.VERBS.items()]


@pytest.mark.parametrize("start, action, by, kw, message", ILLEGAL)
def test_illegal_transitions_are_refused_and_leave_the_ledger_untouched(mini_kb_root, start, action, by, kw, message):
    setup(mini_kb_root, start)
    before = ledger_file(mini_kb_root).read_bytes() if SETUPS[start] else None
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, action, by, **kw)
    assert str(err.value) == f"{RULE}: {message}"
    assert err.value.exit_code == 2
    after = ledger_file(mini_kb_root).read_bytes() if ledger_file(mini_kb_root).exists() else None
    assert after == before
    assert status(mini_kb_root).status == start


def test_an_unknown_rule_and_an_empty_name_are_refused(mini_kb_root):
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "submit", AUTHOR, rule="check.no_such_rule")
    assert str(err.value) == (f"check.no_such_rule: cannot submit: no rule with this id in the knowledge base at "
                              f"{mini_kb_root}")
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "submit", "  \t ")
    assert str(err.value) == f"{RULE}: cannot submit: --by is empty; give the name of the person deciding"
    assert not ledger_file(mini_kb_root).exists()


# ---------------------------------------------------------------- quorum

def test_quorum_needs_distinct_approvers_other_than_the_author(mini_kb_root):
    set_policy(mini_kb_root, quorum=2)
    setup(mini_kb_root, "under_review")
    first = act(mini_kb_root, "approve", CY, coi="none")
    assert (first.status.status, first.status.approved) == ("under_review", False)
    assert first.status.detail["label"] == "under_review (1 of 2 approvals)"
    assert first.status.detail["waiting_for"] == ("1 more approval from board members other than Test Author "
                                                  "(approved so far: Dr Cy Approver)")
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "approve", "dr cy  approver", coi="none")
    assert str(err.value) == (f"{RULE}: cannot approve: Dr Cy Approver already approved this content (entry 3); "
                              "the quorum counts distinct approvers")
    second = act(mini_kb_root, "approve", DI, coi="none")
    assert (second.status.status, second.status.approved) == ("approved", True)
    assert [a["by"] for a in second.status.detail["approvals"]] == [CY, DI]


def test_raising_the_quorum_takes_effect_at_once(mini_kb_root):
    setup(mini_kb_root, "approved")
    assert status(mini_kb_root).approved
    set_policy(mini_kb_root, quorum=2)
    st = status(mini_kb_root)
    assert (st.status, st.approved, st.detail["label"]) == ("under_review", False, "under_review (1 of 2 approvals)")
    act(mini_kb_root, "approve", DI, coi="none")
    assert status(mini_kb_root).approved


def test_an_approval_by_whoever_is_now_the_author_does_not_count(mini_kb_root):
    setup(mini_kb_root, "approved")
    edit_rule(mini_kb_root, "author: Test Author", f"author: {CY}")  # the digest leaves the author out
    st = status(mini_kb_root)
    assert (st.status, st.approved) == ("under_review", False)


def test_approvals_of_earlier_content_do_not_count_toward_the_quorum(mini_kb_root):
    set_policy(mini_kb_root, quorum=2)
    setup(mini_kb_root, "under_review")
    act(mini_kb_root, "approve", CY, coi="none")
    edit_rule(mini_kb_root, "The spine rose and the hip fell significantly.", "The spine rose while the hip fell.")
    act(mini_kb_root, "approve", DI, coi="none")
    st = status(mini_kb_root)
    assert (st.status, st.detail["label"]) == ("under_review", "under_review (1 of 2 approvals)")
    assert [a["by"] for a in st.detail["stale_approvals"]] == [CY]
    act(mini_kb_root, "approve", CY, coi="none")
    assert status(mini_kb_root).approved


# ---------------------------------------------------------------- approval bound to content

DECREASE = "measurement.significant_decrease"
DECREASE_FILE = "knowledge/rules/measurement/measurement.significant_decrease.yaml"


@pytest.mark.parametrize("rule, file, old, new", [
    (RULE, RULE_FILE, "The spine rose and the hip fell significantly.", "The spine rose while the hip fell."),       # statement
    (RULE, RULE_FILE, '"this likely indicates a differential response to treatment"',
     '"this likely indicates a differential response"'),                                          # citation
    (RULE, RULE_FILE, "{recency: 0, region: hip, direction: decrease}",
     "{recency: 0, site: total_hip, direction: decrease}"),                                           # condition
    (DECREASE, DECREASE_FILE, "comparable: true", "comparable: true\n      site: total_hip"),       # condition
    (DECREASE, "knowledge/facts/parameters.yaml", "value: 1\n", "value: 2\n"),                      # parameter
], ids=["statement", "citation", "condition", "added condition", "parameter it uses"])
def test_any_change_to_an_approved_rule_withdraws_its_approval(mini_kb_root, rule, file, old, new):
    setup(mini_kb_root, "approved", rule)
    edit_rule(mini_kb_root, old, new, file)
    st = status(mini_kb_root, rule)
    assert (st.status, st.approved) == (CHANGED, False)
    assert st.caution == f"{PENDING}: changed since its approval on 2026-03-01"
    assert st.detail["waiting_for"] == "the author (Test Author) to submit the changed rule for review again"
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "approve", DI, rule, coi="none")
    assert str(err.value) == (f"{rule}: cannot approve: it was changed since its approval (submit it again and "
                              "start review first)")
    edit_rule(mini_kb_root, new, old, file)  # the approved content again: the approval holds again
    assert status(mini_kb_root, rule).approved


def test_a_changed_rule_goes_round_again(mini_kb_root):
    setup(mini_kb_root, "approved")
    edit_rule(mini_kb_root, "version: 1", "version: 2")
    edit_rule(mini_kb_root, "The spine rose and the hip fell significantly.", "The spine rose while the hip fell.")
    act(mini_kb_root, "submit", AUTHOR, note="Shorter statement.")
    act(mini_kb_root, "start", BO)
    outcome = act(mini_kb_root, "approve", DI, coi="none")
    assert outcome.entry["rule_version"] == 2 and outcome.status.approved


def test_the_version_alone_does_not_change_the_content(mini_kb_root):
    setup(mini_kb_root, "approved")
    edit_rule(mini_kb_root, "version: 1", "version: 2")
    assert status(mini_kb_root).approved


# ---------------------------------------------------------------- lapse by date

def test_an_approval_lapses_after_its_review_by_date(mini_kb_root, monkeypatch):
    monkeypatch.setattr(governance, "system_now", lambda: dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    setup(mini_kb_root, "approved")
    last_day = status(mini_kb_root, now=dt.datetime(2027, 3, 1, 23, 59, tzinfo=dt.timezone.utc))
    assert (last_day.status, last_day.approved, last_day.detail["days_to_review_by"]) == ("approved", True, 0)
    lapsed = status(mini_kb_root, now=dt.datetime(2027, 3, 2, tzinfo=dt.timezone.utc))
    assert (lapsed.status, lapsed.approved) == (LAPSED, False)
    assert lapsed.caution == f"{PENDING}: its approval lapsed on 2027-03-02 (review-by date 2027-03-01 passed)"
    later = dt.datetime(2027, 3, 5, tzinfo=dt.timezone.utc)
    with pytest.raises(ReviewError) as err:
        act(mini_kb_root, "approve", DI, coi="none", now=later)
    assert str(err.value) == f"{RULE}: cannot approve: its approval lapsed (submit it again and start review first)"
    act(mini_kb_root, "submit", AUTHOR, now=later)
    act(mini_kb_root, "start", BO, now=later)
    assert act(mini_kb_root, "approve", DI, coi="none", now=later).entry["review_by"] == "2028-03-05"
    assert status(mini_kb_root, now=later).approved


def test_the_clock_comes_from_bmdkb_now_when_not_given(mini_kb_root, monkeypatch):
    setup(mini_kb_root, "approved")
    kb = knowledge_base.load(mini_kb_root)
    monkeypatch.setenv("BMDKB_NOW", "2027-03-02")
    assert governance.statuses(kb)[RULE].status == LAPSED
    monkeypatch.setenv("BMDKB_NOW", "2027-03-01T23:00:00-05:00")  # 04:00 UTC on 2 March
    assert governance.statuses(kb)[RULE].status == LAPSED
    monkeypatch.setenv("BMDKB_NOW", "2027-03-01T10:00:00Z")
    assert governance.statuses(kb)[RULE].status == "approved"
    monkeypatch.setenv("BMDKB_NOW", "next tuesday")
    with pytest.raises(ReviewError) as err:
        governance.statuses(kb)
    assert str(err.value) == ("$BMDKB_NOW: 'next tuesday' is not an ISO date or date-time "
                              "(e.g. 2026-03-01 or 2026-03-01T09:30:00Z)")


def test_a_decision_is_dated_when_its_writer_holds_the_ledger_lock(mini_kb_root, monkeypatch):
    # Two writers at once (the board page and a command): the one that waited for the lock must be
    # dated after the entry written meanwhile, not refused as "before the ledger's last entry".
    import threading

    keyring.ensure(mini_kb_root)
    kb = knowledge_base.load(mini_kb_root)
    clock = [NOW]
    monkeypatch.setattr(governance, "system_now", lambda: clock[0])
    real_writing, waiting, go = ledger.writing, threading.Event(), threading.Event()

    def writing(*args, **kwargs):
        if threading.current_thread().name == "slow-writer":   # it reaches for the lock, another holds it
            waiting.set()
            go.wait(30)
        return real_writing(*args, **kwargs)

    monkeypatch.setattr(ledger, "writing", writing)
    outcome = {}

    def slow():
        try:
            outcome["entry"] = governance.decide(kb, "submit", RULE, AUTHOR, key=keyring.key(mini_kb_root, AUTHOR)).entry
        except Exception as exc:   # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=slow, name="slow-writer")
    thread.start()
    assert waiting.wait(30)
    clock[0] = NOW + dt.timedelta(seconds=5)
    governance.decide(kb, "submit", "measurement.significant_decrease", AUTHOR, key=keyring.key(mini_kb_root, AUTHOR))
    go.set()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["entry"]["time"] == "2026-03-01T09:00:05Z"
    assert ledger.verify(ledger_file(mini_kb_root)).ok


# ---------------------------------------------------------------- submit everything, broken ledgers

def test_submit_all_submits_what_can_be_submitted(mini_kb_root):
    setup(mini_kb_root, "approved")
    outcomes, skipped = governance.submit_all(knowledge_base.load(mini_kb_root), AUTHOR, now=NOW,
                                              key=keyring.key(mini_kb_root, AUTHOR))
    assert [o.entry["rule"] for o in outcomes] == ["measurement.significant_decrease",
                                                   "measurement.significant_increase", "check.fall_risk.considered"]
    assert skipped == {RULE: "approved"}
    found = governance.statuses(knowledge_base.load(mini_kb_root), NOW)
    assert {k: v.status for k, v in found.items()} == {
        "measurement.significant_decrease": "submitted", "measurement.significant_increase": "submitted",
        RULE: "approved", "check.fall_risk.considered": "submitted"}
    assert ledger.verify(ledger_file(mini_kb_root)).ok


def test_a_broken_ledger_approves_nothing_and_takes_no_decision(mini_kb_root):
    setup(mini_kb_root, "approved")
    path = ledger_file(mini_kb_root)
    path.write_bytes(path.read_bytes().replace(b"Dr Cy Approver", b"Dr Eve Forger"))
    st = status(mini_kb_root)
    assert (st.status, st.approved) == ("unverified", False)
    assert st.caution == f"{PENDING}: the review ledger fails verification (run bmdkb review verify)"
    assert st.detail["ledger_problem"] == ("entry 3 (line 3): its content does not match its hash: "
                                           "the entry was edited")
    before = path.read_bytes()
    with pytest.raises(LedgerError):
        act(mini_kb_root, "submit", AUTHOR, rule="check.fall_risk.considered")
    assert path.read_bytes() == before


# ---------------------------------------------------------------- at run time

def test_evaluate_cautions_unapproved_conclusions_and_approved_only_withholds_them(mini_kb_root):
    case = load_file(DEMO_CASE)
    kb = knowledge_base.load(mini_kb_root)
    preview = Evaluator(kb, now=NOW).evaluate(case, "demo-case.yaml").result
    assert preview["conclusions"] and all(c["caution"] == PENDING for c in preview["conclusions"])
    assert [c["rule"]["status"] for c in preview["conclusions"]] == ["draft"] * len(preview["conclusions"])

    for rule_id in kb.rules:
        setup(mini_kb_root, "approved", rule_id)
    kb = knowledge_base.load(mini_kb_root)
    approved = Evaluator(kb, now=NOW).evaluate(case, "demo-case.yaml", approved_only=True).result
    assert [c["code"] for c in approved["conclusions"]] == [c["code"] for c in preview["conclusions"]]
    assert all("caution" not in c and c["rule"]["status"] == "approved" for c in approved["conclusions"])
    assert approved["summary"]["withheld"] == 0

    edit_rule(mini_kb_root, "The spine rose and the hip fell significantly.", "The spine rose while the hip fell.")
    kb = knowledge_base.load(mini_kb_root)
    changed = Evaluator(kb, now=NOW).evaluate(case, "demo-case.yaml").result
    pattern = next(c for c in changed["conclusions"] if c["code"] == "pattern.spine_up_hip_down")
    assert pattern["rule"]["status"] == CHANGED
    assert pattern["caution"] == f"{PENDING}: changed since its approval on 2026-03-01"
    withheld = Evaluator(kb, now=NOW).evaluate(case, "demo-case.yaml", approved_only=True).result
    assert "pattern.spine_up_hip_down" in withheld["summary"]["withheld_codes"]
    assert withheld["summary"]["withheld"] == len(preview["conclusions"]) - len(withheld["conclusions"]) >= 1

    lapsed = Evaluator(kb, now=dt.datetime(2027, 3, 2, tzinfo=dt.timezone.utc)).evaluate(
        case, "demo-case.yaml", approved_only=True).result
    assert lapsed["conclusions"] == [] and lapsed["summary"]["withheld"] == len(preview["conclusions"])


# ---------------------------------------------------------------- the dashboard's data

def test_the_dashboard_lists_waiting_changed_lapsing_and_lapsed(mini_kb_root):
    set_policy(mini_kb_root, quorum=1, review_period_months=12, lapse_warning_days=30)
    setup(mini_kb_root, "approved", RULE)
    setup(mini_kb_root, "approved", "measurement.significant_increase")
    act(mini_kb_root, "submit", AUTHOR, rule="measurement.significant_decrease")
    edit_rule(mini_kb_root, "The spine rose and the hip fell significantly.", "The spine rose while the hip fell.")

    board = governance.dashboard(knowledge_base.load(mini_kb_root), dt.datetime(2027, 2, 10, tzinfo=dt.timezone.utc))
    assert board["counts"] == {"draft": 1, "submitted": 1, "approved": 1, CHANGED: 1}
    assert board["waiting"] == ["check.fall_risk.considered", "measurement.significant_decrease"]
    assert board["changed_since_approval"] == [RULE]
    assert board["lapsing"] == ["measurement.significant_increase"]
    assert board["lapsed"] == []
    decrease = next(r for r in board["rules"] if r["id"] == "measurement.significant_decrease")
    assert (decrease["since"], decrease["days_in_status"]) == ("2026-03-01T09:00:00Z", 346)
    assert board["ledger"] == {"file": "provenance/review-ledger.jsonl", "entries": 7, "verified": True,
                               "problem": None, "head": ledger.read(ledger_file(mini_kb_root)).head, "notes": [],
                               "signed_from": 1}

    later = governance.dashboard(knowledge_base.load(mini_kb_root), dt.datetime(2027, 3, 2, tzinfo=dt.timezone.utc))
    assert later["lapsed"] == ["measurement.significant_increase"] and later["lapsing"] == []
