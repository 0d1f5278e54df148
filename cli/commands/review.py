"""`bmdkb review`: the editorial board's commands (decisions, dashboard, audit log, verification)."""
from __future__ import annotations

import json
import os
import textwrap
from collections import Counter
from pathlib import Path

import click

from bmdkb.engine.api import Problem, exitstatus, governance, kbroot, ledger, release_anchor, rosterlog, signing
from bmdkb.cli.options import decide, finish, load_kb, review_kb_option as kb_option, root_path
from bmdkb.cli.render import escape

WIDTH = 100

by_option = click.option("--by", default=None, help="Name of the board member deciding (optional: the key says "
                                                    "who; when given it must name the key's member).")
key_option = click.option("--key", "key_file", default=None, metavar="FILE",
                          help=f"Your private signing key (from `bmdkb review keygen`); default ${signing.KEY_VAR}.")
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
    until its review-by date. Every decision is signed with the deciding member's key (--key FILE
    or $BMDKB_SIGNING_KEY) under the roster an editor adopted (adopt-roster). $BMDKB_NOW (an ISO
    date or date-time) sets the clock for reading (status, log); decisions are dated by the system clock.
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


def load_key(key_file):
    """The signing key named by --key (else $BMDKB_SIGNING_KEY), or None when neither is given."""
    path = signing.key_file(key_file)
    return signing.load_private_key(path, "--key" if key_file else f"${signing.KEY_VAR}") if path else None


def _clock_note() -> None:
    if os.environ.get(governance.CLOCK_VAR, "").strip():
        click.echo(f"Note: ${governance.CLOCK_VAR} is for reading; decisions are dated by the system clock", err=True)


def _record(kb_root, action: str, rule_id: str, by, note, key_file, coi=None, review_by=None,
            read_digest=None) -> None:
    kb = _load_for_writing(kb_root)
    _clock_note()
    _report(governance.decide(kb, action, rule_id, by, note=note, coi=coi, review_by=review_by,
                              key=load_key(key_file), read_digest=read_digest))


@review.command()
@click.argument("rule_id", metavar="RULE", required=False)
@click.option("--all", "every", is_flag=True, help="Submit every rule that is a draft, has changes requested, "
                                                   "or whose approval no longer holds.")
@by_option
@key_option
@note_option
@kb_option
def submit(rule_id, every, by, key_file, note, kb_root):
    """Submit RULE (or --all) for review. Any board member may submit, usually the author."""
    if bool(rule_id) == every:
        raise click.UsageError("give either a RULE or --all")
    if not every:
        _record(kb_root, "submit", rule_id, by, note, key_file)
        return
    kb = _load_for_writing(kb_root)
    _clock_note()
    outcomes, skipped = governance.submit_all(kb, by, note, key=load_key(key_file))
    for repair in (outcomes[0].repairs if outcomes else []):
        click.echo(f"Note: {repair}", err=True)
    for outcome in outcomes:
        click.echo(escape.text(f"{outcome.entry['rule']} v{outcome.entry['rule_version']}: submitted "
                               f"(ledger entry {outcome.entry['seq']})"))
    who = outcomes[0].entry["by"] if outcomes else governance.person(by)
    summary = f"Submitted {len(outcomes)} of {len(kb.rules)} rules by {who}"
    if skipped:
        summary += f"; {len(skipped)} left as they are (" + ", ".join(
            f"{n} {label}" for label, n in sorted(Counter(skipped.values()).items())) + ")"
    click.echo(escape.text(summary + "."))


@review.command()
@click.argument("rule_id", metavar="RULE")
@by_option
@key_option
@note_option
@kb_option
def start(rule_id, by, key_file, note, kb_root):
    """Start reviewing a submitted RULE. The reviewer may not be the rule's author."""
    _record(kb_root, "start", rule_id, by, note, key_file)


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
@key_option
@note_option
@kb_option
def approve(rule_id, by, coi, review_by, read_digest, key_file, note, kb_root):
    """Approve RULE's current content. Not by its author; the policy's quorum of distinct
    approvers makes it approved."""
    _record(kb_root, "approve", rule_id, by, note, key_file, coi=coi, review_by=review_by, read_digest=read_digest)


@review.command("request-changes")
@click.argument("rule_id", metavar="RULE")
@by_option
@key_option
@note_option
@kb_option
def request_changes(rule_id, by, key_file, note, kb_root):
    """Send RULE back to its author with --note saying what should change."""
    _record(kb_root, "request-changes", rule_id, by, note, key_file)


@review.command()
@click.argument("rule_id", metavar="RULE")
@by_option
@key_option
@note_option
@kb_option
def retire(rule_id, by, key_file, note, kb_root):
    """Retire RULE for good (--note gives the reason); it takes no further decisions."""
    _record(kb_root, "retire", rule_id, by, note, key_file)


# ---------------------------------------------------------------- keys and the roster

@review.command()
@click.option("--member", required=True, metavar="ID", help="The member id the key is for (board.yaml `id`).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), metavar="PATH",
              help="Where to write the private key: outside the repository (e.g. ~/.bmdkb/ID.key); mode 0600.")
@kb_option
def keygen(member, out, kb_root):
    """Make a member's Ed25519 key pair: write the private key to PATH (never inside the
    knowledge base or its repository) and print the roster entry to put in knowledge/board.yaml.
    The key takes effect once an editor adopts the changed roster (adopt-roster)."""
    root = root_path(kb_root)
    if not rosterlog.valid_id(member):
        raise signing.SigningError(Problem("--member", "", f"{member!r} is not a member id (lower-case words "
                                                           "joined by hyphens, e.g. lena-ortiz)"))
    key = signing.generate()
    written = signing.write_private_key(key, out, root)
    public = signing.public_text(key.public_key())
    board = load_kb(root=root).board
    entry = next((m for m in board.get("members", []) if m["id"] == member), None)
    entry = {**entry, "public_key": public} if entry else {"id": member, "name": "NAME", "roles": ["reviewer"],
                                                          "public_key": public}
    click.echo(f"wrote the private key to {written} (mode 0600): keep it there, never in the repository", err=True)
    click.echo(f"# {'replace' if entry.get('name') != 'NAME' else 'add'} this member in knowledge/board.yaml, then "
               "an editor runs `bmdkb review adopt-roster`:")
    click.echo("  - " + "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in entry.items()) + "}")


def _flow(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False) if value is not None else "null"


@review.command("adopt-roster")
@by_option
@key_option
@note_option
@kb_option
def adopt_roster(by, key_file, note, kb_root):
    """Adopt knowledge/board.yaml as the roster in force from the ledger's next entry, signed by an
    editor of the roster in force (the first time: an editor it lists). Appends to
    provenance/roster-log.jsonl; decisions are refused while board.yaml differs from the roster in force."""
    root = root_path(kb_root, write=True)
    kbroot.write_target(root, rosterlog.ROSTER_LOG)
    kb = _load_for_writing(kb_root)
    entry = governance.adopt_roster(kb, load_key(key_file), by=by, note=note)
    first = entry["seq"] == 1
    click.echo(escape.text(f"roster {entry['roster'][:19]}… adopted by {entry['by']} (roster entry {entry['seq']}); "
                           f"in force from ledger entry {entry['from_entry']}"
                           + ("; every entry from it on must be signed" if first else "")))


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
        signed = f", signed from entry {led['signed_from']}" if led["signed_from"] else ""
        out += _wrap(f"Ledger: {led['file']}, {led['entries']} entries, chain{' and signatures' if signed else ''} "
                     f"verified{signed}, {head}", "", "  ")
        if led["signed_from"] and not board["roster"]["board_matches"]:
            out += _wrap("Note: knowledge/board.yaml differs from the roster in force: no decision can be recorded "
                         "until an editor adopts it (bmdkb review adopt-roster)", "", "  ")
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


def _roster_lines(r: dict) -> list[str]:
    members = r["board"].get("members", [])
    out = [f"   -  {r['time']}  {'adopt-roster':<15}  roster {r['roster'][:19]}… ({len(members)} members), "
           f"in force from entry {r['from_entry']}"]
    out += _wrap(f"by {r['by']} (roster entry {r['seq']}, provenance/roster-log.jsonl)", "      ")
    if r.get("note"):
        out += _wrap(f"note: {r['note']}", "      ")
    return out


@review.command()
@click.argument("rule_id", metavar="[RULE]", required=False)
@format_option
@kb_option
def log(rule_id, fmt, kb_root):
    """The decisions recorded in the ledger, oldest first (only RULE's when given); without RULE,
    each adopted roster too, where it took effect (`--format json` lists the decisions only)."""
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
        # without RULE, each adopted roster is shown where it took effect: before the first
        # decision it governs (a roster governs every rule, so it is not shown for one rule's log)
        adoptions = list(reading.rosters.entries) if reading.rosters and rule_id is None else []
        lines = []
        for e in entries:
            while adoptions and adoptions[0]["from_entry"] <= e["seq"]:
                lines += _roster_lines(adoptions.pop(0))
            lines += _entry_lines(e)
        for adopted in adoptions:
            lines += _roster_lines(adopted)
        _echo_lines(lines)
    if not reading.ok:
        raise ledger.LedgerError(Problem(reading.display, "", f"{reading.broken.message} (entries after it are "
                                                              "not shown)"))


def _genesis_problem(reading, expected: str):
    """A Problem when the roster log does not start with the pinned genesis roster ``expected``."""
    rosters = reading.rosters
    found = rosters.entries[0]["roster"] if rosters and rosters.entries else None
    if found == expected:
        return None
    where = rosters.display if rosters else "provenance/roster-log.jsonl"
    if found is None:
        return Problem(where, "", f"no roster adopted, but the genesis roster was pinned as {expected}: the "
                                  "roster log was deleted or never written")
    return Problem(where, "", f"the genesis roster is {found}, not the pinned {expected}: the roster history "
                              "was rewritten (new keys from its start)")


@review.command(epilog=exitstatus.epilog("review verify"))
@click.option("--head", "expect_head", default=None, metavar="HASH",
              help="A head hash recorded earlier: fail if the ledger no longer contains it, which catches entries "
                   "deleted from the end.")
@click.option("--release", "release_version", default=None, metavar="VERSION",
              help="Also check against release VERSION's manifest: the ledger head it anchored (truncation, any "
                   "rewrite up to it), the signing epoch, and the manifest's signature.")
@click.option("--manifest", "manifest_file", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="With --release: a copy of that release's manifest kept outside the repository (default "
                   "knowledge/release-manifest.yaml).")
@click.option("--genesis", "expect_genesis", default=None, metavar="DIGEST",
              help="The genesis roster's digest, pinned outside the repository (verify prints it): fail unless "
                   "the roster log starts with it, which catches a history rewritten from scratch with new keys.")
@kb_option
def verify(expect_head, release_version, manifest_file, expect_genesis, kb_root):
    """Check the ledger's hash chain, every entry's signature against the roster in force at it
    (provenance/roster-log.jsonl) and that times never go backwards; name the first entry that
    was edited, inserted, deleted, reordered, backdated or forged."""
    if manifest_file and not release_version:
        raise click.UsageError("--manifest needs --release VERSION")
    root = root_path(kb_root)
    reading = ledger.verify(Path(root) / ledger.LEDGER_FILE, expect_head=expect_head)
    broken, checked = reading.broken, []
    if broken is None and release_version:
        verdict = release_anchor.check(root, release_version, manifest_file)
        reading, broken, checked = verdict.reading, verdict.broken, verdict.checked
    if broken is None and expect_genesis:
        broken = _genesis_problem(reading, expect_genesis)
    if broken is not None:
        decide(exitstatus.FINDINGS)
        intact = f" (entries 1 to {len(reading.entries)} are intact)" if reading.entries and \
            broken.file == reading.display else ""
        click.echo(f"Error: {Problem(broken.file, '', broken.message + intact)}", err=True)
        finish(exitstatus.FINDINGS)
    n, epoch = len(reading.entries), reading.epoch
    if reading.entries:
        click.echo(f"{reading.display}: {n} entries, hash chain intact")
        click.echo(f"head {reading.head}")
    else:
        click.echo(f"{reading.display}: no entries yet")
    rosters = reading.rosters
    if epoch is None:
        click.echo("signatures: none yet (no roster adopted); unsigned entries never count toward an approval")
    else:
        history = f"; entries 1 to {epoch - 1} are unsigned history" if epoch > 1 else ""
        signed = (f"entries {epoch} to {n} signed and verified" if n >= epoch else "no signed entries yet")
        adopted = f"{len(rosters.entries)} roster{'s' if len(rosters.entries) != 1 else ''} adopted"
        click.echo(f"signatures: {signed} ({adopted}){history}")
        click.echo(f"genesis roster {rosters.entries[0]['roster']} (pin it to detect a rewritten history)")
    for line in checked:
        click.echo(line)
    for note in reading.notes():
        click.echo(f"Note: {note}")
