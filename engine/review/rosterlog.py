"""The roster log: which editorial board (knowledge/board.yaml, with its members' public keys)
was in force for which review-ledger entries, as a signed, hash-chained JSON Lines file
(provenance/roster-log.jsonl), in the manner of TUF's root metadata chain.

knowledge/board.yaml is the board as proposed; it takes effect only when an editor adopts it
(`bmdkb review adopt-roster --key FILE`), which appends one entry here:

    {"seq", "time", "from_entry", "roster", "board", "by", "signer", "note", "prev_hash", "signature", "hash"}

``board`` is the whole roster document (so a later change to board.yaml never changes what an old
signature is checked against), ``roster`` its canonical digest, ``from_entry`` the first review-
ledger entry it governs (the ledger's length at adoption, plus one). The first entry (the
genesis roster) is signed by an editor it lists; every later one by an editor of the roster
before it, so a roster can only be changed by someone the board already trusted. The genesis
entry's ``from_entry`` is the ledger's *signing epoch*: entries before it are the unsigned
history; every entry from it on must be signed under the roster in force at that entry.

The roster in force at ledger entry ``n`` is the last roster whose ``from_entry`` is at most
``n``. ``read`` checks the chain, the signatures and the order of times and ``from_entry``; a
broken log is reported like a broken ledger (verify exits 3, no decision is taken).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bmdkb.engine.common.errors import Problem
from bmdkb.engine.kb.model import canonical_digest
from bmdkb.engine.review import signing

ROSTER_LOG = "provenance/roster-log.jsonl"
KIND = "roster"
FIELD_ORDER = ("seq", "time", "from_entry", "roster", "by", "signer", "note", "board", "prev_hash", "signature",
               "hash")
ADOPTING_ROLE = "editor"


def valid_id(text: str) -> bool:
    """Whether ``text`` has the form of a member id (lower-case words joined by hyphens)."""
    return bool(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", text or ""))


def digest(board: dict) -> str:
    """The digest a roster is known by: canonical JSON of the board document."""
    return canonical_digest(board or {})


def member_with_key(board: dict, public: str) -> dict | None:
    """The member of ``board`` whose public key is ``public``, or None."""
    return next((m for m in (board or {}).get("members", []) if m.get("public_key") == public), None)


def serialize(entry: dict) -> bytes:
    """The exact line written for a roster-log entry."""
    ordered = {k: entry[k] for k in FIELD_ORDER if k in entry}
    return (json.dumps(ordered, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def entry_hash(entry: dict) -> str:
    """sha256 of the canonical JSON of the entry without its own ``hash``."""
    return canonical_digest({k: v for k, v in entry.items() if k != "hash"})


@dataclass
class RosterLog:
    """The adopted rosters, oldest first, and the first problem found (None when intact)."""

    display: str = ROSTER_LOG
    entries: list = field(default_factory=list)
    broken: Problem | None = None

    @property
    def ok(self) -> bool:
        """Whether the roster log is intact."""
        return self.broken is None

    @property
    def epoch(self) -> int | None:
        """The first ledger entry that must be signed (None: no roster adopted, nothing signed yet)."""
        return self.entries[0]["from_entry"] if self.entries else None

    @property
    def current(self) -> dict | None:
        """The latest adopted roster-log entry."""
        return self.entries[-1] if self.entries else None

    @property
    def head(self) -> str | None:
        """The hash of the last roster-log entry."""
        return self.entries[-1]["hash"] if self.entries else None

    def in_force(self, seq: int) -> dict | None:
        """The roster-log entry in force at ledger entry ``seq`` (None before the signing epoch)."""
        found = None
        for entry in self.entries:
            if entry["from_entry"] <= seq:
                found = entry
        return found


def _problem(entry: dict, line_no: int, prev: dict | None) -> str | None:
    name = f"roster entry {entry.get('seq', '?')} (line {line_no})"
    if isinstance(entry.get("hash"), str) and entry_hash(entry) != entry["hash"]:
        return f"{name}: its content does not match its hash: the entry was edited"
    from bmdkb.engine.kb import schemas   # jsonschema: only when a roster entry is checked, never on a cold evaluate

    found = schemas.problems("roster-log-entry", entry, "")
    if found:
        return f"{name}: {found[0].field}: {found[0].message}"
    if entry["seq"] != line_no:
        return f"line {line_no} holds roster entry {entry['seq']}: roster entries were deleted, inserted or reordered"
    if entry["prev_hash"] != (prev["hash"] if prev else None):
        return f"{name}: prev_hash does not match the entry before it: the roster log was rewritten"
    if entry["roster"] != digest(entry["board"]):
        return f"{name}: the roster digest does not match the board it records"
    if prev and (entry["time"] < prev["time"] or entry["from_entry"] < prev["from_entry"]):
        return f"{name}: dated or placed before the roster entry it follows: it was backdated or inserted by hand"
    authority = prev["board"] if prev else entry["board"]   # the genesis roster is signed by one of its own editors
    member = next((m for m in authority.get("members", []) if m["id"] == entry["signer"]), None)
    whose = "the roster before it" if prev else "the roster it adopts"
    if member is None or not member.get("public_key"):
        return f"{name}: signer {entry['signer']} is not a member with a public key in {whose}"
    if ADOPTING_ROLE not in member["roles"]:
        return f"{name}: signer {entry['signer']} is not an {ADOPTING_ROLE} in {whose}; only editors adopt a roster"
    if not signing.valid(member["public_key"], signing.payload(KIND, entry), entry["signature"]):
        return f"{name}: the signature does not verify with {entry['signer']}'s key in {whose}: forged or edited"
    return None


def read(path: Path, display: str = ROSTER_LOG) -> RosterLog:
    """Read and verify the roster log at ``path`` (missing: no roster adopted yet)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        data = None
    return parse(data, display)


def parse(data: bytes | None, display: str = ROSTER_LOG) -> RosterLog:
    """Verify roster-log bytes ``data`` (None: no roster log)."""
    log = RosterLog(display)
    lines = (data or b"").split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    prev = None
    for line_no, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            entry = None
        problem = (f"line {line_no}: not a JSON object: the line was edited or damaged"
                   if not isinstance(entry, dict) else _problem(entry, line_no, prev))
        if problem is None and serialize(entry) != raw + b"\n":
            problem = f"roster entry {entry['seq']} (line {line_no}): not in the exact form bmdkb writes: edited by hand"
        if problem:
            log.broken = Problem(display, "", problem)
            return log
        log.entries.append(entry)
        prev = entry
    return log


def new_entry(log: RosterLog, board: dict, by: str, signer_id: str, note, time: str, from_entry: int,
              signer: signing.Signer) -> dict:
    """The signed, chained roster-log entry adopting ``board`` (not yet written)."""
    entry = {"seq": len(log.entries) + 1, "time": time, "from_entry": from_entry, "roster": digest(board),
             "by": by, "signer": signer_id, "note": note, "board": board, "prev_hash": log.head}
    entry["signature"] = signer.sign(signing.payload(KIND, entry))
    entry["hash"] = entry_hash(entry)
    from bmdkb.engine.kb import schemas   # jsonschema: only when a roster is adopted

    found = schemas.problems("roster-log-entry", entry, "")
    if found:  # pragma: no cover - a defect in the caller, never written
        raise ValueError(f"refusing to write an invalid roster entry: {found[0].field}: {found[0].message}")
    return entry


def append(path: Path, entry: dict) -> None:
    """Append ``entry`` to the roster log (the caller holds the review ledger's lock)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, serialize(entry))
        os.fsync(fd)
    finally:
        os.close(fd)
