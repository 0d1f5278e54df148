"""What clinicians did with the cards: the feedback endpoint's records, kept append-only, and their summary.

The store is a JSON-lines file that is only ever appended to (one record a line, written under a
file lock and flushed to disk before the endpoint answers). It holds no patient data: a feedback
record is the card's uuid, the outcome, the override reason's coding, when it happened, when it
was received, and whether the clinician typed a comment (never the comment: free text can name
the patient). A card record, written the first time the service issues a card, says what that
uuid stands for (its question, conclusion codes, release and mode), so the summary can count
outcomes per question without any patient in sight.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import uuid as uuidlib
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from filelock import FileLock

OUTCOMES = ("accepted", "overridden")
MAX_ITEMS = 100
MAX_FIELD = 256


class FeedbackError(ValueError):
    """A feedback body the endpoint refuses (answered 400 with this message)."""


def _when(value, where: str) -> str:
    if not isinstance(value, str):
        raise FeedbackError(f"{where} must be an ISO 8601 date-time")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FeedbackError(f"{where} must be an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise FeedbackError(f"{where} must give its time zone (e.g. Z)")
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _short(value, where: str, required: bool = True):
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
        raise FeedbackError(f"{where} must be a non-empty string of at most {MAX_FIELD} characters")
    return value


def parse(body, service_id: str, now: dt.datetime | None = None) -> list[dict]:
    """The feedback records of a request body (CDS Hooks 2.0.1 feedback), or FeedbackError."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise FeedbackError("the body must be an object with a non-empty list `feedback`")
    if len(body["feedback"]) > MAX_ITEMS:
        raise FeedbackError(f"at most {MAX_ITEMS} feedback items in one request")
    received = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds").replace("+00:00", "Z")
    records = []
    for k, item in enumerate(body["feedback"]):
        where = f"feedback[{k}]"
        if not isinstance(item, dict):
            raise FeedbackError(f"{where} must be an object")
        card = _short(item.get("card"), f"{where}.card")
        try:
            card = str(uuidlib.UUID(card))
        except ValueError:
            raise FeedbackError(f"{where}.card must be a uuid") from None
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            raise FeedbackError(f"{where}.outcome must be accepted or overridden")
        suggestions = item.get("acceptedSuggestions", [])
        if not isinstance(suggestions, list) or not all(isinstance(s, dict) and isinstance(s.get("id"), str)
                                                        for s in suggestions):
            raise FeedbackError(f"{where}.acceptedSuggestions must be a list of objects with an id")
        reason = None
        comment = False
        override = item.get("overrideReason")
        if override is not None:
            if outcome != "overridden":
                raise FeedbackError(f"{where}.overrideReason is only for an overridden card")
            if not isinstance(override, dict):
                raise FeedbackError(f"{where}.overrideReason must be an object")
            coding = override.get("reason")
            if coding is not None:
                if not isinstance(coding, dict):
                    raise FeedbackError(f"{where}.overrideReason.reason must be a Coding")
                reason = {"code": _short(coding.get("code"), f"{where}.overrideReason.reason.code"),
                          "system": _short(coding.get("system"), f"{where}.overrideReason.reason.system")}
                display = _short(coding.get("display"), f"{where}.overrideReason.reason.display", False)
                if display is not None:
                    reason["display"] = display
            user_comment = override.get("userComment")
            if user_comment is not None and not isinstance(user_comment, str):
                raise FeedbackError(f"{where}.overrideReason.userComment must be a string")
            comment = bool(user_comment)
        records.append({
            "type": "feedback",
            "service": service_id,
            "card": card,
            "outcome": outcome,
            "override_reason": reason,
            "comment_given": comment,        # the comment itself is never stored
            "accepted_suggestions": len(suggestions),
            "outcome_time": _when(item.get("outcomeTimestamp"), f"{where}.outcomeTimestamp"),
            "received": received,
        })
    return records


class FeedbackStore:
    """The append-only store at ``path`` (created on first write, never rewritten)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".lock")
        self.cards_written: set = set()

    def append(self, records: list[dict]) -> None:
        """Append ``records``, one JSON line each, durably (flushed and synced) under the lock."""
        if not records:
            return
        data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode("utf-8")
        with self.lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def note_cards(self, infos) -> None:
        """Write a card record for each card uuid this process has not written before."""
        new = [info for info in infos if info.uuid not in self.cards_written]
        if new:
            self.append([{"type": "card", **asdict(info), "codes": list(info.codes)} for info in new])
            self.cards_written.update(info.uuid for info in new)


def summarise(path: str | Path) -> dict:
    """Outcomes per card question (and per override reason) from a store; unreadable lines are counted."""
    cards, feedback, unreadable = {}, [], 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                unreadable += 1
                continue
            if not isinstance(record, dict):
                unreadable += 1
            elif record.get("type") == "card" and isinstance(record.get("uuid"), str):
                cards[record["uuid"]] = record
            elif record.get("type") == "feedback" and record.get("outcome") in OUTCOMES:
                feedback.append(record)
            else:
                unreadable += 1
    groups: dict = {}
    for record in feedback:
        card = cards.get(record.get("card"), {})
        name = card.get("group", "(card not issued by this store's service)")
        entry = groups.setdefault(name, {"accepted": 0, "overridden": 0, "override_reasons": Counter(),
                                         "comments": 0, "releases": set()})
        entry[record["outcome"]] += 1
        reason = record.get("override_reason")
        if record["outcome"] == "overridden":
            entry["override_reasons"][reason["code"] if isinstance(reason, dict) else "(no reason given)"] += 1
        entry["comments"] += bool(record.get("comment_given"))
        if card.get("release"):
            entry["releases"].add(card["release"])
    times = sorted(r["outcome_time"] for r in feedback if isinstance(r.get("outcome_time"), str))
    return {
        "store": str(path),
        "feedback": len(feedback),
        "cards_issued": len(cards),
        "first": times[0] if times else None,
        "last": times[-1] if times else None,
        "unreadable_lines": unreadable,
        "by_question": {
            name: {"accepted": e["accepted"], "overridden": e["overridden"],
                   "override_reasons": dict(e["override_reasons"].most_common()),
                   "comments_given": e["comments"], "releases": sorted(e["releases"])}
            for name, e in sorted(groups.items())
        },
    }


def summary_text(summary: dict) -> str:
    """The summary as a short report for a terminal."""
    out = [f"Feedback in {summary['store']}: {summary['feedback']} outcomes on {summary['cards_issued']} distinct "
           "cards issued" + (f", {summary['first']} to {summary['last']}" if summary["first"] else "")]
    if summary["unreadable_lines"]:
        out.append(f"  ({summary['unreadable_lines']} unreadable lines skipped)")
    for name, entry in summary["by_question"].items():
        total = entry["accepted"] + entry["overridden"]
        out.append(f"  {name}: {total} outcomes, {entry['accepted']} accepted, {entry['overridden']} overridden"
                   + (f" (releases {', '.join(entry['releases'])})" if entry["releases"] else ""))
        for code, count in entry["override_reasons"].items():
            out.append(f"      overridden, {code}: {count}")
        if entry["comments_given"]:
            out.append(f"      with a comment (not stored): {entry['comments_given']}")
    return "\n".join(out) + "\n"
