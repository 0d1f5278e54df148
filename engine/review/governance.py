"""Editorial status of each rule, derived only from the review ledger, and the decisions
that move a rule through its lifecycle.

    draft --submit--> submitted --start--> under_review --approve x quorum--> approved
                        ^  ^                   |                                  |
                        |  |           request-changes (also from      content changed, or
                        |  |           submitted or approved)           review-by date passed
                        |  |                   v                                  |
                        |  +---submit--- changes_requested                        |
                        +-------------------------submit--------------------------+
    any state but retired --retire--> retired (final)

A rule with no ledger entry is a draft. It is approved when, since review last started,
`quorum` distinct board members (none of them its current author) approved the same
content digest, that digest is the rule's current one, and the earliest review-by date
of those approvals has not passed. An approval that no longer holds shows as
"approved (changed since approval)" or "approved (lapsed)" and counts as pending; a ledger
that fails verification makes every rule "unverified" (pending) until it is repaired.

Who may decide what: anyone submits (usually the author); review is started, approved and
sent back by rostered reviewers (knowledge/board.yaml, see ``roster``) other than the rule's
author, and retired by a reviewer or editor; an approval needs a conflict-of-interest
declaration; requesting changes and retiring need a note. People are identified by the roster
member their --by name resolves to: quorum counts distinct member ids, and an approval in the
ledger by a name that is not a rostered reviewer never counts.

Signed decisions: every decision is signed with the deciding member's private key
(``signing.Signer``), and the member is the one whose public key that is in the roster in force
(the latest roster an editor adopted, provenance/roster-log.jsonl): a --by name must name the
same member, or the decision is refused. Decisions are refused until a roster is adopted, and
while knowledge/board.yaml differs from the adopted one (an editor adopts it first,
``adopt_roster``). Only checked, signed entries count toward an approval.

Policy (quorum, review period) is read from
knowledge/policy.yaml at the time the status is asked for, so raising the quorum takes
effect at once. The clock for reading (statuses, the dashboard) is ``now`` or, when that is
None, $BMDKB_NOW (an ISO date or date-time, UTC unless it says otherwise), else the system
clock: tests and the board's "what lapses next month" questions set it. A decision is dated by
the system clock (``system_now``) and never by $BMDKB_NOW: the override reads, it never writes,
so `BMDKB_NOW=2099-01-01 bmdkb review approve` dates the approval today. Python callers (tests,
reconstructing a day) may pass ``now``, which is refused (exit 2) when later than the system
clock or before the ledger's last entry: entries are in time order, and `verify` breaks a
ledger where one is dated before the entry it follows.

It stays one module past 400 lines because deriving a status and checking a decision are one
lifecycle model: ``decide`` refuses or records a transition against the track (``_fold``) and
status (``_status``) that ``statuses`` derives, so splitting them would make that private
model a public interface between two modules that must always change together.
"""
from __future__ import annotations

import calendar
import datetime as dt
import os
from dataclasses import dataclass, field

from bmdkb.engine.kb.identity import REVIEW_KEYS, identity
from bmdkb.engine.kb.knowledge_base import canonical_digest
from bmdkb.engine.review import ledger, rosterlog, verdicts
from bmdkb.engine.review.roster import IdentityError, Roster
from bmdkb.engine.review.signing import Signer, SigningError
from bmdkb.engine.common.errors import BmdkbError, Problem

PENDING = "pending editorial review"
CLOCK_VAR = "BMDKB_NOW"
ACTIONS = ("submit", "start", "approve", "request-changes", "retire")
VERBS = {"submit": "submit", "start": "start review", "approve": "approve",
         "request-changes": "request changes", "retire": "retire"}
DEFAULT_POLICY = {"quorum": 1, "review_period_months": 12, "lapse_warning_days": 60}

CHANGED = "approved (changed since approval)"
LAPSED = "approved (lapsed)"
UNVERIFIED = "unverified"
STATUS_ORDER = ("draft", "submitted", "under_review", "changes_requested", "approved", CHANGED, LAPSED,
                "retired", UNVERIFIED)


class ReviewError(BmdkbError):
    """A decision refused (illegal transition, missing declaration, unknown rule): exit 2,
    and the ledger is left untouched."""


@dataclass
class RuleStatus:
    """A rule's review status, whether its current content is approved, and the caution shown with its results."""

    status: str                 # one of STATUS_ORDER
    approved: bool              # a valid approval bound to the current content digest
    caution: str | None = PENDING
    detail: dict = field(default_factory=dict)


# ---------------------------------------------------------------- clock, policy, people

def clock(now: dt.datetime | dt.date | None = None) -> dt.datetime:
    """The current time in UTC for reading: ``now``, else $BMDKB_NOW, else the system clock."""
    if now is None:
        text = os.environ.get(CLOCK_VAR, "").strip()
        if not text:
            return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        try:
            now = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ReviewError(Problem(f"${CLOCK_VAR}", "", f"{text!r} is not an ISO date or date-time "
                                                          "(e.g. 2026-03-01 or 2026-03-01T09:30:00Z)")) from None
    if not isinstance(now, dt.datetime):
        now = dt.datetime.combine(now, dt.time())
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    return now.astimezone(dt.timezone.utc).replace(microsecond=0)


def system_now() -> dt.datetime:
    """The system clock in UTC, to the second: what dates a decision, and the latest time one may be dated."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def write_time(now: dt.datetime | dt.date | None = None) -> dt.datetime:
    """The time a write is dated: ``now`` when a Python caller gives one, else the system clock,
    never $BMDKB_NOW."""
    return system_now() if now is None else clock(now)


def _check_time(where: str, now: dt.datetime, entries: list) -> None:
    """Refuse dating a decision later than the system clock or before the ledger's last entry."""
    real = system_now()
    if now > real:
        _refuse(where, f"cannot date a decision {timestamp(now)}: that is later than the system clock "
                       f"({timestamp(real)}); decisions are never recorded in the future")
    if entries and timestamp(now) < entries[-1]["time"]:
        _refuse(where, f"cannot date a decision {timestamp(now)}: that is before the ledger's last entry "
                       f"({entries[-1]['seq']}, {entries[-1]['time']}); decisions are recorded in time order")


def timestamp(now: dt.datetime) -> str:
    """A UTC time written to the second (e.g. 2026-03-01T09:30:00Z), as ledger entries and the dashboard show it."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day when it is shorter."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    return dt.date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def policy(kb) -> dict:
    """The review policy: the defaults, overridden by the knowledge base's own settings for known keys."""
    return {**DEFAULT_POLICY, **{k: v for k, v in kb.policy.items() if k in DEFAULT_POLICY}}


def person(name: str | None) -> str:
    """A name as recorded: trimmed, inner spaces collapsed ('' when empty)."""
    return " ".join((name or "").split())


def same_person(a: str, b: str) -> bool:
    """Whether two recorded names are the same person, ignoring case and spacing."""
    return person(a).casefold() == person(b).casefold()


def _feeds(kb, rule) -> list:
    """The rules whose conclusions or asserted facts ``rule``'s conditions match (one step)."""
    out = []
    for cond in rule.data.get("when", []):
        fact = cond.get("fact")
        code = (cond.get("where") or {}).get("code") if fact == "conclusion" else None
        for other in kb.rules.values():
            then = other.data.get("then", {})
            if fact == "conclusion" and "conclude" in then:
                if not isinstance(code, str) or then["conclude"].get("code") == code:
                    out.append(other)
            elif "assert" in then and then["assert"].get("type") == fact:
                out.append(other)
    return out


def chained(kb, rule) -> dict[str, str]:
    """Id -> digest of every rule ``rule`` chains on, transitively (a literal conclusion code picks
    its rules; any other condition on conclusions conservatively picks every concluding rule)."""
    found, todo = {}, [rule]
    while todo:
        for other in _feeds(kb, todo.pop()):
            if other.id != rule.id and other.id not in found:
                found[other.id] = other.digest
                todo.append(other)
    return dict(sorted(found.items()))


def dependencies(kb, rule=None) -> dict[str, str]:
    """Digests of the knowledge, beyond a rule's own digest, that an approval binds: the adapter's
    domain data (conservatively the whole of each table, e.g. treatment classes), the fact-type
    vocabulary and, given ``rule``, the rules it chains on (``chained``). A change to any of them
    takes back every approval that recorded the old digest."""
    deps = {"knowledge/fact-types.yaml": canonical_digest(kb.fact_types)}
    for key, data in sorted(kb.domain_data.items()):
        deps[f"domain data {key}"] = canonical_digest(data)
    if rule is not None:
        deps.update({f"rule {rid}": digest for rid, digest in chained(kb, rule).items()})
    return deps


def _changed_dependencies(approvals: list, current: dict) -> list[str]:
    """The dependencies whose digest an approval recorded and that differ now (old approvals
    without recorded dependencies bind only the rule digest)."""
    return sorted({name for a in approvals for name, digest in (a.get("dependencies") or {}).items()
                   if current.get(name) != digest})


def ledger_path(kb):
    """The path of the knowledge base's review ledger file."""
    return kb.root / ledger.LEDGER_FILE


# ---------------------------------------------------------------- deriving a status

@dataclass
class _Track:
    """A rule's history folded into where it stands (before content and date are considered)."""

    phase: str = "draft"                              # draft|submitted|under_review|changes_requested|approved|retired
    since: dict | None = None                         # the entry that put it there
    started: dict | None = None                       # the entry that started the current review
    approvals: list = field(default_factory=list)     # approve entries since review started
    approval: list = field(default_factory=list)      # the approvals that reached quorum
    entries: list = field(default_factory=list)


def _who(entry: dict, roster: Roster) -> str:
    """Who made an entry: its signer's member id, else (unsigned history) what its name resolves to."""
    return entry["signer"] if "signer" in entry else roster.identity(entry["by"])


def _fold(entries: list, author: str, quorum: int, roster: Roster, signed) -> _Track:
    track = _Track()
    for entry in entries:
        track.entries.append(entry)
        action = entry["action"]
        if action == "approve":
            who = _who(entry, roster)
            if not signed(entry) or who == roster.identity(author) or not roster.may_member("approve", who):
                continue  # unsigned, by the rule's (current) author, or by no rostered reviewer: never counts
            track.approvals.append(entry)
            agreeing = _distinct([a for a in track.approvals if a["rule_digest"] == entry["rule_digest"]], roster)
            if len(agreeing) >= quorum:
                if track.phase != "approved":
                    track.since = entry
                track.phase, track.approval = "approved", agreeing
            continue
        track.phase, track.since = {"submit": "submitted", "start": "under_review",
                                    "request-changes": "changes_requested", "retire": "retired"}[action], entry
        if action in ("submit", "start", "request-changes"):
            track.approvals, track.approval = [], []
        if action == "start":
            track.started = entry
    return track


def _distinct(approvals: list, roster: Roster) -> list:
    """The first approval of each member (compared by roster member id)."""
    seen, out = set(), []
    for a in approvals:
        key = _who(a, roster)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


def _approval_view(a: dict) -> dict:
    return {"by": a["by"], "signer": a.get("signer"), "time": a["time"], "coi": a["coi"], "review_by": a["review_by"], "seq": a["seq"],
            "rule_version": a["rule_version"], "rule_digest": a["rule_digest"]}


def _status(rule, track: _Track, pol: dict, today: dt.date, roster: Roster, deps: dict | None = None) -> RuleStatus:
    author = rule.author
    since = track.since
    detail = {"author": author, "since": since["time"] if since else None, "since_seq": since["seq"] if since else None,
              "by": since["by"] if since else None, "note": since["note"] if since else None,
              "quorum": pol["quorum"], "entries": len(track.entries)}
    phase = track.phase
    if phase == "approved":
        approved_digest = track.approval[0]["rule_digest"]
        review_by = min(dt.date.fromisoformat(a["review_by"]) for a in track.approval)
        detail.update(approvals=[_approval_view(a) for a in track.approval], approved_on=since["time"][:10],
                      approved_version=since["rule_version"], approved_digest=approved_digest,
                      review_by=review_by.isoformat(), days_to_review_by=(review_by - today).days)
        if approved_digest != rule.digest:
            detail.update(label=CHANGED,
                          waiting_for=f"the author ({author}) to submit the changed rule for review again")
            return RuleStatus(CHANGED, False, f"{PENDING}: changed since its approval on {detail['approved_on']}",
                              detail)
        changed = _changed_dependencies(track.approval, deps or {})
        if changed:
            detail.update(label=CHANGED, changed_dependencies=changed,
                          waiting_for=f"the author ({author}) to submit the rule for review again")
            return RuleStatus(CHANGED, False, f"{PENDING}: {', '.join(changed)} changed since its approval on "
                                              f"{detail['approved_on']}", detail)
        if today > review_by:
            detail.update(label=LAPSED, lapsed_on=(review_by + dt.timedelta(days=1)).isoformat(),
                          waiting_for=f"re-review: the author ({author}) to submit it again")
            return RuleStatus(LAPSED, False, f"{PENDING}: its approval lapsed on {detail['lapsed_on']} "
                                             f"(review-by date {review_by.isoformat()} passed)", detail)
        detail.update(label="approved", waiting_for=None)
        return RuleStatus("approved", True, None, detail)
    if phase == "under_review":
        current = _distinct([a for a in track.approvals if a["rule_digest"] == rule.digest], roster)
        stale = [a for a in track.approvals if a["rule_digest"] != rule.digest]
        missing = pol["quorum"] - len(current)
        detail.update(approvals=[_approval_view(a) for a in current], stale_approvals=[_approval_view(a) for a in stale],
                      reviewer=track.started["by"] if track.started else None,
                      label=f"under_review ({len(current)} of {pol['quorum']} approvals)" if current else "under_review",
                      waiting_for=f"{missing} more approval{'s' if missing != 1 else ''} from board members other than "
                                  f"{author}" + (f" (approved so far: {', '.join(a['by'] for a in current)})"
                                                 if current else ""))
    elif phase == "retired":
        detail.update(label="retired", waiting_for=None)
        return RuleStatus("retired", False, f"retired by the editorial board on {since['time'][:10]}: "
                                            "do not rely on it", detail)
    else:
        detail["label"] = phase
        detail["waiting_for"] = {
            "draft": f"the author ({author}) to submit it",
            "submitted": f"a board member other than {author} to start review",
            "changes_requested": f"the author ({author}) to revise and submit it again",
        }[phase]
    return RuleStatus(phase, False, PENDING, detail)


def _entries_by_rule(entries: list) -> dict:
    out: dict = {}
    for entry in entries:
        out.setdefault(entry["rule"], []).append(entry)
    return out


def _statuses_from(kb, reading: ledger.Reading, pol: dict, today: dt.date) -> dict[str, RuleStatus]:
    if not reading.ok:
        caution = f"{PENDING}: the review ledger fails verification (run bmdkb review verify)"
        return {rule_id: RuleStatus(UNVERIFIED, False, caution,
                                    {"label": UNVERIFIED, "ledger_problem": reading.broken.message,
                                     "author": rule.author, "waiting_for": "the board to repair the review ledger"})
                for rule_id, rule in kb.rules.items()}
    by_rule, roster = _entries_by_rule(reading.entries), roster_in_force(kb, reading)
    return {rule_id: _status(rule, _fold(by_rule.get(rule_id, []), rule.author, pol["quorum"], roster,
                                         reading.signed), pol, today, roster, dependencies(kb, rule))
            for rule_id, rule in kb.rules.items()}


def roster_in_force(kb, reading: ledger.Reading) -> Roster:
    """The board that decides now: the latest adopted roster, else (before any is adopted) board.yaml."""
    current = reading.rosters.current if reading.rosters else None
    return Roster(current["board"] if current else kb.board)


def read_ledger(kb) -> ledger.Reading:
    """The knowledge base's ledger, verified (signatures included), from the verdict cache when unchanged."""
    return verdicts.reading(ledger_path(kb))


def statuses(kb, now: dt.datetime | None = None) -> dict[str, RuleStatus]:
    """Every rule's status at ``now`` (see ``clock``), from the ledger in kb.root."""
    now = clock(now)
    return _statuses_from(kb, read_ledger(kb), policy(kb), now.date())


def last_approved(kb, rule_id: str) -> dict | None:
    """The last time the ledger brought ``rule_id`` to approval (whether or not that approval
    still holds): the approved content digest, rule version, date and approvers, or None when
    it was never approved (or the ledger fails verification)."""
    rule = kb.rules[rule_id]
    reading = read_ledger(kb)
    if not reading.ok:
        return None
    pol, roster = policy(kb), roster_in_force(kb, reading)
    entries = _entries_by_rule(reading.entries).get(rule_id, [])
    found = None
    for n in range(1, len(entries) + 1):
        track = _fold(entries[:n], rule.author, pol["quorum"], roster, reading.signed)
        if track.phase == "approved" and track.since is entries[n - 1]:
            found = {"digest": track.approval[0]["rule_digest"], "version": track.since["rule_version"],
                     "time": track.since["time"], "seq": track.since["seq"],
                     "by": [a["by"] for a in track.approval]}
    return found


# ---------------------------------------------------------------- decisions

@dataclass
class Outcome:
    """What recording a review decision produced: the ledger entry, the rule's new status, ledger repair notes."""

    entry: dict
    status: RuleStatus          # the rule's status once the decision is recorded
    repairs: list


def _refuse(rule_id: str, message: str):
    raise ReviewError(Problem(rule_id, "", message))


def _date_of(entry: dict | None) -> str:
    return entry["time"][:10] if entry else "?"


def _check(action: str, rule, status: RuleStatus, track: _Track, by: str, note, coi, roster: Roster) -> None:
    """Refuse an illegal decision with one line naming the rule and why."""
    rid, verb, s = rule.id, VERBS[action], status.status
    author_acts = roster.identity(by) == roster.identity(rule.author)
    if s == "retired":
        _refuse(rid, f"cannot {verb}: the rule was retired on {_date_of(track.since)} by {track.since['by']}, "
                     "and a retired rule takes no further decisions")
    if action == "submit":
        if s in ("draft", "changes_requested", CHANGED, LAPSED):
            return
        reason = {"submitted": f"it is already submitted (since {_date_of(track.since)}) and waits for a reviewer",
                  "under_review": f"it is under review (since {_date_of(track.since)})",
                  "approved": f"it is approved and the approval holds (review by {status.detail.get('review_by')})"}
        _refuse(rid, f"cannot submit: {reason[s]}")
    if action == "start":
        if s != "submitted":
            reason = {"draft": "status is draft (submit it first)",
                      "changes_requested": "status is changes_requested (the author must revise and submit it again)",
                      "under_review": f"it is already under review (started by {track.started['by']} on "
                                      f"{_date_of(track.started)})" if track.started else "it is already under review",
                      "approved": "it is approved and the approval holds",
                      CHANGED: "it was changed since its approval (submit it again first)",
                      LAPSED: "its approval lapsed (submit it again first)"}
            _refuse(rid, f"cannot start review: {reason[s]}")
        if author_acts:
            _refuse(rid, f"cannot start review: {by} is the rule's author; another board member reviews it")
        return
    if action == "approve":
        if s != "under_review":
            reason = {"draft": "status is draft (submit it and start review first)",
                      "submitted": "status is submitted (start review first)",
                      "changes_requested": "status is changes_requested (the author must revise and submit it again)",
                      "approved": f"it is already approved (on {status.detail.get('approved_on')}, review by "
                                  f"{status.detail.get('review_by')})",
                      CHANGED: "it was changed since its approval (submit it again and start review first)",
                      LAPSED: "its approval lapsed (submit it again and start review first)"}
            _refuse(rid, f"cannot approve: {reason[s]}")
        if author_acts:
            _refuse(rid, f"cannot approve: {by} is the rule's author, and authors cannot approve their own rules")
        earlier = next((a for a in status.detail.get("approvals", [])
                        if roster.identity(a["by"]) == roster.identity(by)), None)
        if earlier:
            _refuse(rid, f"cannot approve: {by} already approved this content (entry {earlier['seq']}); "
                         "the quorum counts distinct approvers")
        if not person(coi):
            _refuse(rid, 'cannot approve without a conflict-of-interest declaration: add --coi none, '
                         'or --coi "the declared interest"')
        return
    if action == "request-changes":
        if s in ("draft", "changes_requested"):
            _refuse(rid, f"cannot request changes: status is {s} (nothing is waiting for review)")
        if author_acts:
            _refuse(rid, f"cannot request changes: {by} is the rule's author; a reviewer requests changes")
        if not note:
            _refuse(rid, "cannot request changes without --note saying what should change")
        return
    if action == "retire" and not note:
        _refuse(rid, "cannot retire without --note giving the reason")


def _review_by(rule_id: str, pol: dict, today: dt.date, given: dt.date | str | None) -> dt.date:
    latest = add_months(today, pol["review_period_months"])
    if given is None:
        return latest
    if isinstance(given, str):
        try:
            given = dt.date.fromisoformat(given)
        except ValueError:
            _refuse(rule_id, f"--review-by {given!r} is not an ISO date (e.g. {latest.isoformat()})")
    if given <= today:
        _refuse(rule_id, f"--review-by {given.isoformat()} must be after today ({today.isoformat()})")
    if given > latest:
        _refuse(rule_id, f"--review-by {given.isoformat()} is later than the policy allows ({latest.isoformat()}, "
                         f"{pol['review_period_months']} months)")
    return given


def _fields(action: str, rule, by: str, note, now: dt.datetime) -> dict:
    return {"time": timestamp(now), "action": action, "rule": rule.id, "rule_version": rule.version,
            "rule_digest": rule.digest, "by": by, "note": note}


def adopted_roster(kb, rosters: rosterlog.RosterLog, where: str) -> dict:
    """The roster-log entry in force now; ReviewError when none is adopted or board.yaml differs from it."""
    current = rosters.current
    if current is None:
        _refuse(where, "no editorial board roster has been adopted yet, and every decision is signed under one: an "
                       "editor adopts knowledge/board.yaml first (`bmdkb review adopt-roster --key FILE`)")
    if rosterlog.digest(kb.board) != current["roster"]:
        _refuse(where, f"knowledge/board.yaml differs from the roster in force (roster entry {current['seq']}, "
                       f"adopted {current['time'][:10]} by {current['by']}): an editor adopts the changed roster "
                       "first (`bmdkb review adopt-roster --key FILE`)")
    return current


def _signer(roster: Roster, board: dict, action: str, by: str | None, key: Signer | None, where: str) -> tuple:
    """(name to record, member id) of the member deciding ``action``: the member whose key ``key`` is;
    a --by name must name the same member. IdentityError or SigningError (exit 2) otherwise."""
    name = roster.check(action, by, where) if by else None
    if key is None:
        raise SigningError(Problem(where, "--key", "a decision is signed by the member who makes it: give --key FILE "
                                                   "(the private key from `bmdkb review keygen`) or set "
                                                   "$BMDKB_SIGNING_KEY to its path"))
    member = rosterlog.member_with_key(board, key.public)
    if member is None:
        raise SigningError(Problem(where, "--key", f"the key in {key.source} ({key.public[:20]}…) is not the key of "
                                                   "any member of the roster in force; nothing was recorded"))
    if name is None:
        name = roster.check(action, member["name"], where)
    elif roster.member_id(name) != member["id"]:
        raise SigningError(Problem(where, "--by", f"{name} ({roster.member_id(name)}) is not the member whose key "
                                                  f"{key.source} is ({member['name']}, {member['id']}): the key "
                                                  "decides who signs"))
    return name, member["id"]


def _signed_fields(fields: dict, member_id: str, adopted: dict) -> dict:
    return {**fields, "signer": member_id, "roster": adopted["roster"]}


def decide(kb, action: str, rule_id: str, by: str | None = None, note: str | None = None, coi: str | None = None,
           review_by: dt.date | str | None = None, now: dt.datetime | None = None, key: Signer | None = None,
           read_digest: str | None = None) -> Outcome:
    """Record one decision about one rule, signed with ``key``, or raise ReviewError (IdentityError,
    SigningError) and leave the ledger untouched. ``by`` may be left out: the key says who.

    ``read_digest``, when given, is the content digest the decider read (the board page sends the
    one it showed; `bmdkb review approve --content`): a rule changed since is refused as stale."""
    if action not in ACTIONS:
        raise ValueError(f"unknown review action {action!r}")
    given = now
    rule = kb.rules.get(rule_id)
    if rule is None:
        _refuse(rule_id, f"cannot {VERBS[action]}: no rule with this id in the knowledge base at {kb.root}")
    if read_digest is not None and read_digest.strip() != rule.digest:
        _refuse(rule_id, f"cannot {VERBS[action]}: the rule changed since it was read (read content "
                         f"{read_digest.strip()[:19]}…, now {rule.digest[:19]}…); read the current content first")
    if by is not None and not person(by):
        _refuse(rule_id, f"cannot {VERBS[action]}: --by is empty; give the name of the person deciding")
    by, note = person(by), (note or "").strip() or None
    pol = policy(kb)
    with ledger.writing(ledger_path(kb), reader=verdicts.reading, remember=verdicts.remember) as session:
        now = write_time(given)   # read under the lock: a writer that waited for it is dated after the one before
        today = now.date()
        adopted = adopted_roster(kb, session.reading.rosters, rule_id)
        roster = Roster(adopted["board"])
        by, member_id = _signer(roster, adopted["board"], action, by, key, rule_id)
        _check_time(rule_id, now, session.entries)
        signed = session.reading.signed
        track = _fold(_entries_by_rule(session.entries).get(rule_id, []), rule.author, pol["quorum"], roster, signed)
        deps = dependencies(kb, rule)
        status = _status(rule, track, pol, today, roster, deps)
        _check(action, rule, status, track, by, note, coi, roster)
        fields = _fields(action, rule, by, note, now)
        if action == "approve":
            fields["coi"] = person(coi)
            fields["review_by"] = _review_by(rule_id, pol, today, review_by).isoformat()
            fields["dependencies"] = deps
        entry = session.append(_signed_fields(fields, member_id, adopted), key)
        after = _status(rule, _fold(_entries_by_rule(session.entries)[rule_id], rule.author, pol["quorum"], roster,
                                    signed), pol, today, roster, deps)
    return Outcome(entry, after, session.repairs)


def submit_all(kb, by: str | None = None, note: str | None = None, now: dt.datetime | None = None,
               key: Signer | None = None):
    """Submit every rule that can be submitted, signed with ``key``, under one lock; returns
    (outcomes, skipped {id: status})."""
    given = now
    if by is not None and not person(by):
        _refuse("--all", "cannot submit: --by is empty; give the name of the person deciding")
    by, note = person(by), (note or "").strip() or None
    pol = policy(kb)
    outcomes, skipped = [], {}
    with ledger.writing(ledger_path(kb), reader=verdicts.reading, remember=verdicts.remember) as session:
        now = write_time(given)   # under the lock, as in decide
        today = now.date()
        adopted = adopted_roster(kb, session.reading.rosters, "--all")
        roster = Roster(adopted["board"])
        by, member_id = _signer(roster, adopted["board"], "submit", by, key, "--all")
        _check_time("--all", now, session.entries)
        by_rule, signed = _entries_by_rule(session.entries), session.reading.signed
        for rule in kb.rules.values():
            track = _fold(by_rule.get(rule.id, []), rule.author, pol["quorum"], roster, signed)
            deps = dependencies(kb, rule)
            status = _status(rule, track, pol, today, roster, deps)
            if status.status not in ("draft", "changes_requested", CHANGED, LAPSED):
                skipped[rule.id] = status.detail.get("label", status.status)
                continue
            entry = session.append(_signed_fields(_fields("submit", rule, by, note, now), member_id, adopted), key)
            after = _status(rule, _fold(by_rule.get(rule.id, []) + [entry], rule.author, pol["quorum"], roster,
                                        signed), pol, today, roster, deps)
            outcomes.append(Outcome(entry, after, []))
    if outcomes:
        outcomes[0].repairs.extend(session.repairs)
    return outcomes, skipped


def adopt_roster(kb, key: Signer | None, by: str | None = None, note: str | None = None,
                 now: dt.datetime | None = None) -> dict:
    """Adopt knowledge/board.yaml as the roster in force from the ledger's next entry on, signed by an
    editor of the roster in force (of board.yaml itself for the first, genesis roster); returns the
    roster-log entry written. ReviewError / SigningError (exit 2), nothing written, otherwise."""
    given = now
    where, board = rosterlog.ROSTER_LOG, kb.board
    if not board:
        _refuse(where, "knowledge/board.yaml is missing or empty: there is no roster to adopt")
    keys = [m["public_key"] for m in board.get("members", []) if m.get("public_key")]
    shared = sorted({k for k in keys if keys.count(k) > 1})
    if shared:
        _refuse("knowledge/board.yaml", f"two members have the same public key ({shared[0][:20]}…): each member signs "
                                        "with a key of their own")
    if key is None:
        raise SigningError(Problem(where, "--key", "adopting a roster is signed by an editor: give --key FILE or set "
                                                   "$BMDKB_SIGNING_KEY to its path"))
    path = ledger_path(kb)
    with ledger.writing(path) as session:
        now = write_time(given)   # under the lock, as in decide
        rosters = session.reading.rosters
        current = rosters.current
        if current is not None and current["roster"] == rosterlog.digest(board):
            _refuse(where, f"knowledge/board.yaml is already the roster in force (roster entry {current['seq']})")
        authority = current["board"] if current else board
        member = rosterlog.member_with_key(authority, key.public)
        whose = "the roster in force" if current else "knowledge/board.yaml (the first roster)"
        if member is None:
            raise SigningError(Problem(where, "--key", f"the key in {key.source} ({key.public[:20]}…) is not the key "
                                                       f"of any member of {whose}"))
        if rosterlog.ADOPTING_ROLE not in member["roles"]:
            raise IdentityError(Problem(where, "--key", f"{member['name']} ({member['id']}) has roles "
                                                        f"{', '.join(member['roles'])} in {whose}; adopting a roster "
                                                        f"needs {rosterlog.ADOPTING_ROLE}"))
        if by and Roster(authority).member_id(person(by)) != member["id"]:
            raise SigningError(Problem(where, "--by", f"{person(by)!r} is not the member whose key {key.source} is "
                                                      f"({member['name']}, {member['id']})"))
        last = max([e["time"] for e in session.entries[-1:]] + [e["time"] for e in rosters.entries[-1:]], default="")
        if timestamp(now) < last or now > system_now():
            _refuse(where, f"cannot date the adoption {timestamp(now)}: before the last entry ({last}) or later "
                           "than the system clock")
        entry = rosterlog.new_entry(rosters, board, member["name"], member["id"], (note or "").strip() or None,
                                    timestamp(now), len(session.entries) + 1, key)
        rosterlog.append(ledger.roster_path(path), entry)
    return entry


# ---------------------------------------------------------------- the board's dashboard

def _roster_view(kb, reading: ledger.Reading) -> dict:
    current = reading.rosters.current if reading.rosters else None
    return {"file": rosterlog.ROSTER_LOG, "adopted": len(reading.rosters.entries) if reading.rosters else 0,
            "digest": current["roster"] if current else None, "adopted_on": current["time"] if current else None,
            "adopted_by": current["by"] if current else None,
            "board_matches": bool(current) and current["roster"] == rosterlog.digest(kb.board)}


def dashboard(kb, now: dt.datetime | None = None) -> dict:
    """Everything `bmdkb review status` shows, as plain data."""
    now = clock(now)
    today, pol = now.date(), policy(kb)
    reading = read_ledger(kb)
    current = _statuses_from(kb, reading, pol, today)
    rules = []
    for rule_id, st in current.items():
        d = st.detail
        since = d.get("since")
        rules.append({
            "id": rule_id, "version": kb.rules[rule_id].version, "author": d.get("author"), "status": st.status,
            "label": d.get("label", st.status), "approved": st.approved, "since": since,
            "days_in_status": (today - dt.date.fromisoformat(since[:10])).days if since else None,
            "waiting_for": d.get("waiting_for"), "approvals": d.get("approvals", []),
            "stale_approvals": d.get("stale_approvals", []), "approved_on": d.get("approved_on"),
            "review_by": d.get("review_by"), "days_to_review_by": d.get("days_to_review_by"),
            "lapsed_on": d.get("lapsed_on"), "digest": kb.rules[rule_id].digest,
            "approved_digest": d.get("approved_digest"), "note": d.get("note"), "caution": st.caution,
            "changed_dependencies": d.get("changed_dependencies", [])})
    counts = {s: 0 for s in STATUS_ORDER}
    for r in rules:
        counts[r["status"]] += 1
    known = set(kb.rules)
    lapsing = [r for r in rules if r["status"] == "approved"
               and r["days_to_review_by"] is not None and r["days_to_review_by"] <= pol["lapse_warning_days"]]
    return {
        "knowledge_base": identity(kb, REVIEW_KEYS),
        "as_of": timestamp(now),
        "policy": pol,
        "ledger": {"file": ledger.LEDGER_FILE, "entries": len(reading.entries), "verified": reading.ok,
                   "problem": reading.broken.message if reading.broken else None, "head": reading.head,
                   "notes": reading.notes(), "signed_from": reading.epoch},
        "roster": _roster_view(kb, reading),
        "counts": {k: v for k, v in counts.items() if v},
        "rules": rules,
        "waiting": [r["id"] for r in sorted(rules, key=lambda r: (r["since"] or "", r["id"]))
                    if r["waiting_for"] and r["status"] not in (CHANGED, LAPSED)],
        "changed_since_approval": [r["id"] for r in rules if r["status"] == CHANGED],
        "lapsed": [r["id"] for r in rules if r["status"] == LAPSED],
        "lapsing": [r["id"] for r in sorted(lapsing, key=lambda r: (r["review_by"], r["id"]))],
        "declared_interests": [{"rule": r["id"], "by": a["by"], "coi": a["coi"]}
                               for r in rules for a in r["approvals"] if a["coi"].casefold() != "none"],
        "unknown_rules": sorted({e["rule"] for e in reading.entries} - known),
    }
