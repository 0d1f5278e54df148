"""The review ledger: an append-only, hash-chained JSON Lines file of editorial decisions.

One decision per line. Each entry carries `seq` (1, 2, 3, ... without gaps), `prev_hash`
(the previous entry's `hash`; null for the first) and `hash`, the sha256 of the canonical
JSON (sorted keys, no spaces, UTF-8) of the entry without `hash`. Editing, deleting,
inserting or reordering any entry therefore breaks the chain at that entry, and `verify`
names it; so does an entry dated before the one it follows (a backdated entry, even with a
recomputed chain). Deleting entries at the very end leaves a shorter chain that is still whole; that
is caught only against a head recorded elsewhere (`verify(expect_head=...)`, a release manifest's
`ledger` anchor) or by the roster log, whose latest roster names the ledger entry it took effect at.

Signatures. From the signing epoch on (the first entry the genesis roster in
provenance/roster-log.jsonl governs, see ``rosterlog``), every entry carries ``signer`` (a
member id), ``roster`` (the digest of the roster in force at that entry) and ``signature``
(Ed25519, over the entry without ``hash`` and ``signature``: prev_hash and seq included, so a
signature cannot be moved to another place in the chain). ``read`` with the roster log checks
each one against the key that roster gives the signer, that ``by`` is that member and that the
member's roles allow the action. An unsigned entry before the epoch is accepted as history (it
never counts toward an approval); an unsigned entry after it breaks the ledger.

Writing. A writer takes an exclusive lock on a lock file next to the ledger
(`.review-ledger.jsonl.lock`, through the `filelock` library: flock on POSIX, msvcrt on
Windows, so no platform-only module is imported here), reads and verifies the ledger under
the lock, lets the caller decide, then appends its lines with a single write() on a file
opened O_APPEND and fsyncs it. Deciding and appending under one lock is what keeps two simultaneous decisions about
the same rule from both passing their checks. Readers take no lock: they only ever see
whole lines plus, at worst, part of a line being written, which they treat as below.

Crashes. A line is committed once it is complete. A crash mid-write can leave a last line
without its newline (a torn tail):
  - if the torn tail is a whole JSON entry missing only its newline, it is counted as an
    entry (and checked like any other); the next writer adds the newline;
  - otherwise it is an interrupted write that never committed: readers ignore it,
    `verify` reports it as a note (the ledger is still valid), and the next writer cuts it
    off before appending, so no later entry is ever chained onto a broken line.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bmdkb.engine.common.errors import BmdkbError, Problem
from bmdkb.engine.kb.knowledge_base import canonical_digest
from bmdkb.engine.review import rosterlog, signing
from bmdkb.engine.review.roster import ROLES_FOR, Roster

LEDGER_FILE = "provenance/review-ledger.jsonl"
FIELD_ORDER = ("seq", "time", "action", "rule", "rule_version", "rule_digest", "by", "note",
               "coi", "review_by", "dependencies", "signer", "roster", "prev_hash", "signature", "hash")
KIND = "ledger-entry"
SIGNED_FIELDS = ("signer", "roster", "signature")


class LedgerError(BmdkbError):
    """The ledger fails verification, so nothing may be added to it (exit 2)."""


def entry_hash(entry: dict) -> str:
    """sha256 of the canonical JSON of the entry without its own `hash`."""
    return canonical_digest({k: v for k, v in entry.items() if k != "hash"})


def serialize(entry: dict) -> bytes:
    """The exact line bmdkb writes for an entry: fields in a fixed, readable order."""
    ordered = {k: entry[k] for k in FIELD_ORDER if k in entry}
    ordered.update({k: entry[k] for k in sorted(entry) if k not in ordered})
    return (json.dumps(ordered, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


@dataclass
class Reading:
    """What the ledger holds: entries up to the first broken one, and what is wrong."""

    path: Path
    display: str
    entries: list = field(default_factory=list)
    broken: Problem | None = None      # the first broken entry, if any
    torn_bytes: int = 0                # an interrupted write at the end (ignored)
    torn_line: int | None = None
    unterminated: bool = False         # the last entry lacks only its newline
    rosters: rosterlog.RosterLog | None = None   # the roster log signatures were checked against

    @property
    def epoch(self) -> int | None:
        """The first entry that must be signed (None: nothing is signed yet, or signatures were not checked)."""
        return self.rosters.epoch if self.rosters else None

    def signed(self, entry: dict) -> bool:
        """Whether ``entry`` is a checked, signed entry (from the signing epoch on): only these count as decisions
        of a member."""
        return self.epoch is not None and entry["seq"] >= self.epoch and "signature" in entry

    @property
    def ok(self) -> bool:
        """Whether every ledger entry read is intact."""
        return self.broken is None

    @property
    def head(self) -> str | None:
        """The hash of the last intact entry, or None for an empty ledger."""
        return self.entries[-1]["hash"] if self.entries else None

    def notes(self) -> list[str]:
        """Notes on harmless damage to report, such as an interrupted last write."""
        if self.torn_bytes:
            return [f"line {self.torn_line} is an interrupted write ({self.torn_bytes} bytes, not an entry): "
                    "ignored; the next review decision removes it"]
        return []


def _check_line(raw: bytes, line_no: int, prev: dict | None,
                rosters: rosterlog.RosterLog | None = None) -> tuple[dict | None, str | None]:
    """Parse and check one line against the entry before it: (entry, None) or (None, problem)."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"line {line_no}: not a JSON entry ({getattr(exc, 'msg', exc)}): the line was edited or damaged"
    if not isinstance(entry, dict):
        return None, f"line {line_no}: not a JSON object: the line was edited or damaged"
    name = f"entry {entry.get('seq', '?')} (line {line_no})"
    if isinstance(entry.get("hash"), str) and entry_hash(entry) != entry["hash"]:
        return None, f"{name}: its content does not match its hash: the entry was edited"
    from bmdkb.engine.kb import schemas   # jsonschema: only when entries are checked, not for a cached verdict
    found = schemas.problems("ledger-entry", entry, "")
    if found:
        return None, f"{name}: {found[0].field}: {found[0].message}"
    if entry["seq"] != line_no:
        return None, (f"line {line_no} holds entry {entry['seq']}, not entry {line_no}: "
                      "entries before it were deleted, inserted or reordered")
    expected = prev["hash"] if prev else None
    if entry["prev_hash"] != expected:
        return None, (f"{name}: prev_hash does not match the hash of entry {line_no - 1}: "
                      "the entries before it were edited, replaced or reordered" if prev else
                      f"{name}: the first entry must have prev_hash null")
    if prev and entry["time"] < prev["time"]:
        return None, (f"{name}: dated {entry['time']}, before entry {line_no - 1} ({prev['time']}): "
                      "entries are recorded in time order, so it was backdated or inserted by hand")
    if serialize(entry) != raw + b"\n":
        return None, f"{name}: the line is not in the exact form bmdkb writes: it was edited by hand"
    return entry, (_signature_problem(entry, name, rosters) if rosters is not None else None)


def _signature_problem(entry: dict, name: str, rosters: rosterlog.RosterLog) -> str | None:
    """Why ``entry``'s signature does not hold under the roster in force at it, or None."""
    adopted = rosters.in_force(entry["seq"])
    if adopted is None:
        return None   # before the signing epoch: unsigned history
    missing = [f for f in SIGNED_FIELDS if f not in entry]
    if missing:
        return (f"{name}: unsigned (no {', '.join(missing)}), but every entry from {rosters.epoch} on must be "
                f"signed by the member who made it ({rosters.display}): it was added by hand or forged")
    if entry["roster"] != adopted["roster"]:
        return (f"{name}: signed under roster {entry['roster'][:19]}…, but the roster in force at this entry is "
                f"{adopted['roster'][:19]}… (roster entry {adopted['seq']})")
    board = adopted["board"]
    member = next((m for m in board.get("members", []) if m["id"] == entry["signer"]), None)
    if member is None or not member.get("public_key"):
        return (f"{name}: signer {entry['signer']} is not a member with a public key in the roster in force "
                f"(roster entry {adopted['seq']}): a forged entry")
    if not signing.valid(member["public_key"], signing.payload(KIND, entry), entry["signature"]):
        return (f"{name}: the signature does not verify with {entry['signer']}'s key in the roster in force "
                f"(roster entry {adopted['seq']}): the entry was forged or edited")
    roster = Roster(board)
    if roster.member_id(entry["by"]) != entry["signer"]:
        return f"{name}: by {entry['by']!r} is not the signer {entry['signer']}: the name was edited"
    allowed = ROLES_FOR.get(entry["action"])
    if allowed and not set(member["roles"]) & set(allowed):
        return (f"{name}: {entry['signer']} has roles {', '.join(member['roles'])} in the roster in force; "
                f"to {entry['action'].replace('-', ' ')} needs {' or '.join(allowed)}")
    return None


def roster_path(path: Path) -> Path:
    """The roster log that goes with the ledger at ``path`` (provenance/roster-log.jsonl next to it)."""
    return Path(path).with_name(Path(rosterlog.ROSTER_LOG).name)


def read(path: Path, display: str = LEDGER_FILE, signatures: bool = True) -> Reading:
    """Read and verify the ledger at ``path`` (a missing ledger is an empty one), with every signature
    checked against the roster log next to it (``signatures=False``: the hash chain only)."""
    return parse(_read_bytes(path), path, display, rosterlog.read(roster_path(path)) if signatures else None)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def parse(data: bytes | None, path: Path, display: str = LEDGER_FILE,
          rosters: rosterlog.RosterLog | None = None) -> Reading:
    """Verify the ledger bytes ``data`` (None: no ledger file) read from ``path``, signatures against ``rosters``."""
    reading = Reading(Path(path), display, rosters=rosters)
    if rosters is not None and not rosters.ok:
        reading.broken = rosters.broken
        return reading
    if data is None:
        data = b""
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    if tail:
        try:
            json.loads(tail.decode("utf-8"))
            lines.append(tail)
            reading.unterminated = True
        except (UnicodeDecodeError, json.JSONDecodeError):
            reading.torn_bytes, reading.torn_line = len(tail), len(lines) + 1
    prev = None
    for line_no, raw in enumerate(lines, start=1):
        entry, problem = _check_line(raw, line_no, prev, rosters)
        if problem:
            reading.broken = Problem(display, "", problem)
            break
        reading.entries.append(entry)
        prev = entry
    latest = rosters.current if rosters is not None else None
    if reading.ok and latest and latest["from_entry"] > len(reading.entries) + 1:
        reading.broken = Problem(display, "", f"{rosters.display} adopted roster entry {latest['seq']} from ledger "
                                              f"entry {latest['from_entry']}, but the ledger ends at entry "
                                              f"{len(reading.entries)}: entries at the end were deleted")
    return reading


def verify(path: Path, display: str = LEDGER_FILE, expect_head: str | None = None,
           anchor: dict | None = None, anchored_by: str = "the anchor") -> Reading:
    """Read the ledger; also break it if ``expect_head`` (a hash recorded earlier) is not in it, or if
    ``anchor`` ({"entries": N, "head": HASH}, as a release manifest records it) is not its entry N."""
    reading = read(path, display)
    if reading.ok and expect_head and expect_head not in {e["hash"] for e in reading.entries}:
        reading.broken = Problem(display, "", f"no entry has the recorded head hash {expect_head}: entries at "
                                              "the end were deleted, or the ledger was rewritten")
    return check_anchor(reading, anchor, anchored_by)


def check_anchor(reading: Reading, anchor: dict | None, anchored_by: str = "the anchor") -> Reading:
    """Break ``reading`` unless its entry N has the hash ``anchor`` ({"entries": N, "head": HASH}) records."""
    display = reading.display
    if reading.ok and anchor and anchor.get("entries"):
        n, head = anchor["entries"], anchor["head"]
        if len(reading.entries) < n:
            reading.broken = Problem(display, "", f"the ledger ends at entry {len(reading.entries)}, but {anchored_by} "
                                                  f"anchored entry {n} ({head[:19]}…): entries at the end were deleted")
        elif reading.entries[n - 1]["hash"] != head:
            reading.broken = Problem(display, "", f"entry {n} (line {n}): its hash is "
                                                  f"{reading.entries[n - 1]['hash'][:19]}…, but {anchored_by} anchored "
                                                  f"{head[:19]}…: entries up to {n} were rewritten")
    return reading


class Session:
    """Decisions being added under the ledger's lock; written together when the session ends."""

    def __init__(self, reading: Reading):
        self.reading = reading
        self.entries = list(reading.entries)
        self.pending: list[dict] = []
        self.repairs: list[str] = []   # notes about a torn tail mended when the entries were written

    def append(self, fields: dict, signer: signing.Signer | None = None) -> dict:
        """Chain a new entry after the last one, signed by ``signer`` when given (written when the session ends)."""
        prev = self.entries[-1] if self.entries else None
        entry = {"seq": len(self.entries) + 1, **fields, "prev_hash": prev["hash"] if prev else None}
        if signer is not None:
            entry["signature"] = signer.sign(signing.payload(KIND, entry))
        entry["hash"] = entry_hash(entry)
        from bmdkb.engine.kb import schemas
        found = schemas.problems("ledger-entry", entry, "")
        if found:  # the caller built a bad entry: a defect, never written
            raise ValueError(f"refusing to write an invalid ledger entry: {found[0].field}: {found[0].message}")
        self.entries.append(entry)
        self.pending.append(entry)
        return entry


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@contextmanager
def writing(path: Path, display: str = LEDGER_FILE, reader=None, remember=None):
    """Lock the ledger, yield a Session, and append its entries atomically when the block ends.

    Nothing is written if the block raises. A broken ledger raises LedgerError: no decision is
    ever chained onto it. Notes about repairs made are left in ``session.repairs``. ``reader``
    (default ``read``) reads and verifies the ledger under the lock; ``remember(path, reading)``,
    when given, is told the verdict on the ledger as written (its entries are the session's, chained
    and signed here), so the next writer need not verify them again (engine/review/verdicts.py).
    """
    from filelock import FileLock   # only a writer locks: reading the ledger never needs it
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(path)):  # blocks until no other writer, in any process, holds it
        reading = (reader or read)(path, display)
        if not reading.ok:
            raise LedgerError(Problem(display, "", f"{reading.broken.message}; nothing was recorded "
                                                   "(run `bmdkb review verify`)"))
        session = Session(reading)
        yield session
        if session.pending:
            _commit(path, reading, session)
            if remember is not None:
                remember(path, Reading(path, display, entries=session.entries, rosters=reading.rosters))


def lock_path(path: Path) -> Path:
    """The lock file every writer of the ledger at ``path`` takes."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _commit(path: Path, reading: Reading, session: Session) -> None:
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if reading.torn_bytes:
            size = os.fstat(fd).st_size
            os.ftruncate(fd, size - reading.torn_bytes)
            session.repairs.append(f"removed an interrupted write ({reading.torn_bytes} bytes) from the end "
                                   f"of {reading.display} before recording")
        elif reading.unterminated:
            _write_all(fd, b"\n")
            session.repairs.append(f"completed the last entry of {reading.display} (its newline was missing)")
        _write_all(fd, b"".join(serialize(e) for e in session.pending))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created and os.name == "posix":  # make the new file's directory entry durable too (POSIX only:
        # Windows cannot open a directory as a file, and NTFS journals the entry itself)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
