"""`bmdkb review`: the editorial board's commands (decisions, dashboard, audit log, verification)."""
from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import click

from bmdkb.engine.api import Problem, exitstatus, governance, kbroot, ledger
from bmdkb.cli.options import decide, finish, load_kb, review_kb_option as kb_option, root_path
from bmdkb.cli.render import escape

WIDTH = 100

by_option = click.option("--by", required=True, help="Name of the person making the decision.")
note_option = click.option("--note", default=None, help="What was decided and why (required to request changes "
                                                         "or retire).")
format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


def _wrap(text: str, indent: str = "", subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=WIDTH, initial_indent=indent,
                         subsequent_indent=indent if subsequent is None else subsequent,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def _echo_lines(lines: list[str]) -> None:
    click.echo(escape.lines("\n".join(lines)))  # names and notes are input: no control codes reach the terminal


@click.group(epilog=exitstatus.epilog("review"))
def review():
    """Editorial review: statuses, decisions and the audit trail.

    A rule moves draft -> submitted -> under_review -> approved (or changes_requested, back to the
    author), and is retired at the end. Status comes only from the hash-chained ledger
    provenance/review-ledger.jsonl; an approval holds for the content digest that was approved and
    until its review-by date. $BMDKB_NOW (an ISO date or date-time) sets the clock.
    """


def _report(outcome: governance.Outcome) -> None:
    entry, st = outcome.entry, outcome.status
    for repair in outcome.repairs:
        click.echo(f"Note: {repair}", err=True)
    what = {"submit": "submitted", "start": "review started", "approve": "approved",
            "request-changes": "changes requested", "retire": "retired"}[entry["action"]]
    lines = _wrap(f"{entry['rule']} v{entry['rule_version']}: {what} by {entry['by']} (ledger entry {entry['seq']})",
                  "", "  ")
    if entry["action"] == "approve":
        lines += _wrap(f"Declared conflict of interest: {entry['coi']}; review by {entry['review_by']}", "", "  ")
    status = f"Status: {st.detail.get('label', st.status)}"
    if st.detail.get("waiting_for"):
        status += f"; waiting for {st.detail['waiting_for']}"
    lines += _wrap(status, "", "  ")
    _echo_lines(lines)


def _load_for_writing(kb_root):
    """The knowledge base whose ledger a decision is written to: a root the user named, not the
    installed package, and a ledger (and its lock) that do not lead outside it."""
    root = root_path(kb_root, write=True)
    kbroot.write_target(root, ledger.LEDGER_FILE)
    kbroot.write_target(root, str(Path(ledger.LEDGER_FILE).with_name(f".{Path(ledger.LEDGER_FILE).name}.lock")))
    return load_kb(root=root)


def _record(kb_root, action: str, rule_id: str, by: str, note, coi=None, review_by=None, read_digest=None) -> None:
    kb = _load_for_writing(kb_root)
    _report(governance.decide(kb, action, rule_id, by, note=note, coi=coi, review_by=review_by,
                              read_digest=read_digest))


@review.command()
@click.argument("rule_id", metavar="RULE", required=False)
@click.option("--all", "every", is_flag=True, help="Submit every rule that is a draft, has changes requested, "
                                                   "or whose approval no longer holds.")
@by_option
@note_option
@kb_option
def submit(rule_id, every, by, note, kb_root):
    """Submit RULE (or --all) for review. Anyone may submit, usually the author."""
    if bool(rule_id) == every:
        raise click.UsageError("give either a RULE or --all")
    if not every:
        _record(kb_root, "submit", rule_id, by, note)
        return
    kb = _load_for_writing(kb_root)
    outcomes, skipped = governance.submit_all(kb, by, note)
    for repair in (outcomes[0].repairs if outcomes else []):
        click.echo(f"Note: {repair}", err=True)
    for outcome in outcomes:
        click.echo(escape.text(f"{outcome.entry['rule']} v{outcome.entry['rule_version']}: submitted "
                               f"(ledger entry {outcome.entry['seq']})"))
    summary = f"Submitted {len(outcomes)} of {len(kb.rules)} rules by {governance.person(by)}"
    if skipped:
        summary += f"; {len(skipped)} left as they are (" + ", ".join(
            f"{n} {label}" for label, n in sorted(Counter(skipped.values()).items())) + ")"
    click.echo(escape.text(summary + "."))


@review.command()
@click.argument("rule_id", metavar="RULE")
@by_option
@note_option
@kb_option
def start(rule_id, by, note, kb_root):
    """Start reviewing a submitted RULE. The reviewer may not be the rule's author."""
    _record(kb_root, "start", rule_id, by, note)


@review.command()
@click.argument("rule_id", metavar="RULE")
@by_option
@click.option("--coi", default=None, help='Conflict-of-interest declaration: "none" or the declared interest. '
                                          "Required.")
@click.option("--review-by", "review_by", default=None, metavar="DATE",
              help="Date after which the approval lapses (ISO). Default and latest: today plus the policy's "
                   "review period.")
@click.option("--content", "read_digest", default=None, metavar="DIGEST",
              help="The content digest you reviewed (as `review status --format json` gives it): refuse if the "
                   "rule has changed since.")
@note_option
@kb_option
def approve(rule_id, by, coi, review_by, read_digest, note, kb_root):
    """Approve RULE's current content. Not by its author; the policy's quorum of distinct
    approvers makes it approved."""
    _record(kb_root, "approve", rule_id, by, note, coi=coi, review_by=review_by, read_digest=read_digest)


@review.command("request-changes")
@click.argument("rule_id", metavar="RULE")
@by_option
@note_option
@kb_option
def request_changes(rule_id, by, note, kb_root):
    """Send RULE back to its author with --note saying what should change."""
    _record(kb_root, "request-changes", rule_id, by, note)


@review.command()
@click.argument("rule_id", metavar="RULE")
@by_option
@note_option
@kb_option
def retire(rule_id, by, note, kb_root):
    """Retire RULE for good (--note gives the reason); it takes no further decisions."""
    _record(kb_root, "retire", rule_id, by, note)


# ---------------------------------------------------------------- dashboard

def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _dashboard_text(board: dict) -> str:
    kbinfo, pol, led = board["knowledge_base"], board["policy"], board["ledger"]
    rules = {r["id"]: r for r in board["rules"]}
    out = [f"Editorial status of {kbinfo['name']} {kbinfo['release']} ({kbinfo['rules']} rules), "
           f"as of {board['as_of'][:10]}"]
    out += _wrap(f"Policy: quorum {pol['quorum']} distinct approver{'s' if pol['quorum'] != 1 else ''} (never the "
                 f"author); approvals last at most {pol['review_period_months']} months", "", "  ")
    if led["verified"]:
        head = f"head {led['head'][:19]}…" if led["head"] else "no decisions yet"
        out += _wrap(f"Ledger: {led['file']}, {led['entries']} entries, chain verified, {head}", "", "  ")
    else:
        out += _wrap(f"Ledger: {led['file']} FAILS VERIFICATION: {led['problem']}. No rule counts as approved "
                     "until it is repaired.", "", "  ")
    for note in led["notes"]:
        out += _wrap(f"Note: {note}", "", "  ")

    out += ["", "Rules by status"]
    out += [f"  {label:<36}{n:>4}" for label, n in board["counts"].items()]

    waiting = [rules[i] for i in board["waiting"]]
    if waiting:
        out += ["", "Waiting, oldest first"]
        groups: dict = {}
        for r in waiting:
            groups.setdefault((r["label"], r["waiting_for"]), []).append(r)
        for (label, whom), members in groups.items():
            out += _wrap(f"{label} ({len(members)}): waiting for {whom}", "  ", "      ")
            for r in members:
                since = (f"since {r['since'][:10]} ({_days(r['days_in_status'])})" if r["since"] else
                         "never submitted" if r["status"] == "draft" else "since unknown")
                out.append(f"    {since:<30}{r['id']} v{r['version']}")
                if r["status"] == "changes_requested" and r["note"]:
                    out += _wrap(f"requested: {r['note']}", " " * 34)
                for a in r["stale_approvals"]:
                    out += _wrap(f"approval by {a['by']} on {a['time'][:10]} was for earlier content and no longer "
                                 "counts", " " * 34)

    def section(title: str, ids: list, describe) -> None:
        nonlocal out
        if ids:
            out += ["", title]
            for i in ids:
                out += _wrap(describe(rules[i]), "  ", "      ")

    def approvers(r):
        return ", ".join(a["by"] for a in r["approvals"])

    section("Changed since approval (no longer approved; the author resubmits)", board["changed_since_approval"],
            lambda r: f"{r['id']} v{r['version']}: approved {r['approved_on']} by {approvers(r)}; "
                      + (f"what it depends on changed: {', '.join(r['changed_dependencies'])}"
                         if r["changed_dependencies"] else
                         f"its content digest is now {r['digest'][:19]}…, not the approved "
                         f"{r['approved_digest'][:19]}…"))
    section("Approvals lapsed (pending review again)", board["lapsed"],
            lambda r: f"{r['id']} v{r['version']}: review-by date {r['review_by']} passed; lapsed on "
                      f"{r['lapsed_on']} (approved {r['approved_on']} by {approvers(r)})")
    section(f"Approvals lapsing within {pol['lapse_warning_days']} days", board["lapsing"],
            lambda r: f"{r['id']} v{r['version']}: review by {r['review_by']} "
                      f"(in {_days(r['days_to_review_by'])}; approved by {approvers(r)})")
    approved = [r["id"] for r in board["rules"] if r["status"] == "approved" and r["id"] not in board["lapsing"]]
    section("Approved", approved,
            lambda r: f"{r['id']} v{r['version']}: approved {r['approved_on']} by {approvers(r)}; "
                      f"review by {r['review_by']}")
    if board["declared_interests"]:
        out += ["", "Declared interests"]
        for d in board["declared_interests"]:
            out += _wrap(f"{d['rule']}: {d['by']} declared: {d['coi']}", "  ", "      ")
    if board["unknown_rules"]:
        out += ["", "Ledger entries for rules no longer in the knowledge base"]
        out += _wrap(", ".join(board["unknown_rules"]), "  ")
    return "\n".join(out) + "\n"


@review.command()
@format_option
@kb_option
def status(fmt, kb_root):
    """The board's dashboard: counts by status, what waits for whom and since when, approvals
    lapsing or lapsed, and rules changed since their approval."""
    board = governance.dashboard(load_kb(kb_root))
    if fmt == "json":
        click.echo(escape.json_text(json.dumps(board, indent=2, ensure_ascii=False)))
    else:
        click.echo(escape.lines(_dashboard_text(board)), nl=False)


# ---------------------------------------------------------------- audit log and verification

def _entry_lines(e: dict) -> list[str]:
    out = [f"{e['seq']:>4}  {e['time']}  {e['action']:<15}  {e['rule']} v{e['rule_version']}"]
    extra = f"by {e['by']}"
    if e["action"] == "approve":
        extra += f"; conflict of interest: {e['coi']}; review by {e['review_by']}"
    extra += f"; content {e['rule_digest'][:19]}…"
    out += _wrap(extra, "      ")
    if e["note"]:
        out += _wrap(f"note: {e['note']}", "      ")
    return out


@review.command()
@click.argument("rule_id", metavar="[RULE]", required=False)
@format_option
@kb_option
def log(rule_id, fmt, kb_root):
    """The decisions recorded in the ledger, oldest first (only RULE's when given)."""
    kb = load_kb(kb_root)
    reading = ledger.read(governance.ledger_path(kb))
    entries = [e for e in reading.entries if rule_id is None or e["rule"] == rule_id]
    if rule_id and rule_id not in kb.rules and not entries:
        raise governance.ReviewError(Problem(rule_id, "", "no rule with this id in the knowledge base, and no "
                                                          "decision about it in the ledger"))
    if fmt == "json":
        click.echo(escape.json_text(json.dumps(entries, indent=2, ensure_ascii=False)))
    elif not entries:
        click.echo(f"{rule_id}: no decisions recorded (status draft)" if rule_id else
                   f"{ledger.LEDGER_FILE}: no decisions recorded")
    else:
        lines = []
        for e in entries:
            lines += _entry_lines(e)
        _echo_lines(lines)
    if not reading.ok:
        raise ledger.LedgerError(Problem(reading.display, "", f"{reading.broken.message} (entries after it are "
                                                              "not shown)"))


@review.command(epilog=exitstatus.epilog("review verify"))
@click.option("--head", "expect_head", default=None, metavar="HASH",
              help="A head hash recorded earlier (e.g. at a release): fail if the ledger no longer contains it, "
                   "which catches entries deleted from the end.")
@kb_option
def verify(expect_head, kb_root):
    """Check the ledger's hash chain; name the first edited, deleted or reordered entry."""
    root = root_path(kb_root)
    reading = ledger.verify(Path(root) / ledger.LEDGER_FILE, expect_head=expect_head)
    if not reading.ok:
        decide(exitstatus.FINDINGS)
        intact = f" (entries 1 to {len(reading.entries)} are intact)" if reading.entries else ""
        problem = Problem(reading.display, "", reading.broken.message + intact)
        click.echo(f"Error: {problem}", err=True)
        finish(exitstatus.FINDINGS)
    if reading.entries:
        click.echo(f"{reading.display}: {len(reading.entries)} entries, hash chain intact")
        click.echo(f"head {reading.head}")
    else:
        click.echo(f"{reading.display}: no entries yet")
    for note in reading.notes():
        click.echo(f"Note: {note}")

