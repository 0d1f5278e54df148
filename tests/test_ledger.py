"""The review ledger: hash chain, tamper evidence, torn writes, locking across processes."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os

import pytest
from filelock import FileLock, Timeout

from bmdkb.engine.review import ledger
from bmdkb.engine.review.ledger import LedgerError

DIGEST = "sha256:" + "ab" * 32
# spawn, not fork: it exists on every platform, and forking a process that already runs threads
# (left by earlier tests, e.g. Dask's) can deadlock the child. The workers are module-level for it.
START_METHOD = "spawn"


def fields(i: int, who: str = "Dr Ada Reviewer") -> dict:
    return {"time": f"2026-03-01T09:{i // 60 % 60:02d}:{i % 60:02d}Z", "action": "submit", "rule": f"check.rule_{i}",
            "rule_version": 1, "rule_digest": DIGEST, "by": who, "note": None}


def write(path, n: int) -> list[dict]:
    with ledger.writing(path) as session:
        for i in range(n):
            session.append(fields(i))
    return session.entries


@pytest.fixture
def path(tmp_path):
    return tmp_path / "provenance" / "review-ledger.jsonl"


def lines(path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_entries_are_numbered_and_chained_by_the_documented_hash(path):
    entries = write(path, 3)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] is None
    assert entries[1]["prev_hash"] == entries[0]["hash"] and entries[2]["prev_hash"] == entries[1]["hash"]
    for e in entries:  # sha256 over the canonical JSON of the entry without `hash`
        body = {k: v for k, v in e.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert e["hash"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert json.loads(lines(path)[1]) == entries[1]
    reading = ledger.verify(path)
    assert reading.ok and reading.entries == entries and reading.head == entries[2]["hash"]


def test_a_missing_ledger_is_empty_and_valid(path):
    reading = ledger.verify(path)
    assert reading.ok and reading.entries == [] and reading.head is None


def test_appends_continue_the_chain_across_sessions(path):
    write(path, 2)
    with ledger.writing(path) as session:
        session.append(fields(7))
    reading = ledger.verify(path)
    assert reading.ok and [e["seq"] for e in reading.entries] == [1, 2, 3]
    assert reading.entries[2]["prev_hash"] == reading.entries[1]["hash"]


def test_nothing_is_written_when_the_session_fails(path):
    write(path, 2)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with ledger.writing(path) as session:
            session.append(fields(5))
            raise RuntimeError("refused")
    assert path.read_bytes() == before


def test_an_invalid_entry_is_never_written(path):
    with pytest.raises(ValueError, match="^refusing to write an invalid ledger entry: by: "):
        with ledger.writing(path) as session:
            session.append({**fields(0), "by": ""})
    assert not path.exists()


# ---------------------------------------------------------------- tampering

def tamper(path, edit) -> None:
    rows = lines(path)
    edit(rows)
    path.write_bytes(b"".join(rows))


def broken(path, **kw) -> str:
    reading = ledger.verify(path, **kw)
    assert not reading.ok
    return reading.broken.message


def test_an_edited_entry_is_named(path):
    write(path, 5)
    tamper(path, lambda rows: rows.__setitem__(2, rows[2].replace(b"Dr Ada Reviewer", b"Dr Eve Forger")))
    assert broken(path) == "entry 3 (line 3): its content does not match its hash: the entry was edited"
    assert len(ledger.read(path).entries) == 2


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(path):
    write(path, 4)

    def forge(rows):
        entry = json.loads(rows[1])
        entry["by"] = "Dr Eve Forger"
        entry["hash"] = ledger.entry_hash(entry)
        rows[1] = ledger.serialize(entry)
    tamper(path, forge)
    assert broken(path) == ("entry 3 (line 3): prev_hash does not match the hash of entry 2: "
                            "the entries before it were edited, replaced or reordered")


def test_a_deleted_entry_is_named(path):
    write(path, 5)
    tamper(path, lambda rows: rows.pop(1))
    assert broken(path) == ("line 2 holds entry 3, not entry 2: "
                            "entries before it were deleted, inserted or reordered")


def test_deleting_the_first_entry_is_detected(path):
    write(path, 3)
    tamper(path, lambda rows: rows.pop(0))
    assert broken(path) == "line 1 holds entry 2, not entry 1: entries before it were deleted, inserted or reordered"


def test_reordered_entries_are_named(path):
    write(path, 5)

    def swap(rows):
        rows[3], rows[4] = rows[4], rows[3]
    tamper(path, swap)
    assert broken(path) == ("line 4 holds entry 5, not entry 4: "
                            "entries before it were deleted, inserted or reordered")


def test_renumbered_reordering_is_still_detected(path):
    write(path, 4)

    def swap_and_renumber(rows):
        a, b = json.loads(rows[1]), json.loads(rows[2])
        a["seq"], b["seq"] = 3, 2
        for e in (a, b):
            e["hash"] = ledger.entry_hash(e)
        rows[1], rows[2] = ledger.serialize(b), ledger.serialize(a)
    tamper(path, swap_and_renumber)
    assert broken(path) == ("entry 2 (line 2): prev_hash does not match the hash of entry 1: "
                            "the entries before it were edited, replaced or reordered")


def test_a_hand_reformatted_line_is_detected(path):
    write(path, 3)
    tamper(path, lambda rows: rows.__setitem__(1, json.dumps(json.loads(rows[1]), indent=None).encode() + b"\n"))
    assert broken(path) == "entry 2 (line 2): the line is not in the exact form bmdkb writes: it was edited by hand"


def test_a_damaged_line_in_the_middle_is_named(path):
    write(path, 3)
    tamper(path, lambda rows: rows.__setitem__(1, rows[1][:40] + b"\n"))
    assert broken(path).startswith("line 2: not a JSON entry (")


def test_an_edited_action_is_named(path):
    write(path, 2)
    tamper(path, lambda rows: rows.__setitem__(1, rows[1].replace(b'"action":"submit"', b'"action":"approve"')))
    assert broken(path) == "entry 2 (line 2): its content does not match its hash: the entry was edited"


def test_an_entry_failing_the_schema_is_named_even_with_a_matching_hash(path):
    write(path, 2)

    def forge(rows):
        entry = json.loads(rows[1])
        entry["action"] = "approve"
        entry["hash"] = ledger.entry_hash(entry)
        rows[1] = ledger.serialize(entry)
    tamper(path, forge)
    assert broken(path) == "entry 2 (line 2): coi: is required"


def test_entries_deleted_from_the_end_are_caught_against_a_recorded_head(path):
    entries = write(path, 4)
    tamper(path, lambda rows: rows.pop())
    assert ledger.verify(path).ok  # a shorter chain is still whole ...
    assert broken(path, expect_head=entries[3]["hash"]) == (  # ... but no longer holds the recorded head
        f"no entry has the recorded head hash {entries[3]['hash']}: entries at the end were deleted, "
        "or the ledger was rewritten")
    assert ledger.verify(path, expect_head=entries[2]["hash"]).ok


def test_nothing_is_appended_to_a_broken_ledger(path):
    write(path, 3)
    tamper(path, lambda rows: rows.__setitem__(0, rows[0].replace(b"check.rule_0", b"check.rule_9")))
    before = path.read_bytes()
    with pytest.raises(LedgerError) as err:
        with ledger.writing(path) as session:
            session.append(fields(3))
    assert str(err.value) == ("provenance/review-ledger.jsonl: entry 1 (line 1): its content does not match its "
                              "hash: the entry was edited; nothing was recorded (run `bmdkb review verify`)")
    assert path.read_bytes() == before


# ---------------------------------------------------------------- crashes

def test_an_interrupted_write_is_ignored_then_cut_off(path):
    entries = write(path, 2)
    whole = path.read_bytes()
    torn = ledger.serialize({**fields(9), "seq": 3, "prev_hash": entries[1]["hash"], "hash": DIGEST})[:57]
    path.write_bytes(whole + torn)

    reading = ledger.verify(path)
    assert reading.ok and reading.entries == entries
    assert reading.notes() == ["line 3 is an interrupted write (57 bytes, not an entry): ignored; "
                               "the next review decision removes it"]
    with ledger.writing(path) as session:
        session.append(fields(3))
    assert session.repairs == ["removed an interrupted write (57 bytes) from the end of "
                               "provenance/review-ledger.jsonl before recording"]
    reading = ledger.verify(path)
    assert reading.ok and reading.notes() == [] and [e["rule"] for e in reading.entries] == [
        "check.rule_0", "check.rule_1", "check.rule_3"]
    assert path.read_bytes().startswith(whole)


def test_a_whole_entry_missing_only_its_newline_counts_and_is_completed(path):
    write(path, 2)
    path.write_bytes(path.read_bytes()[:-1])
    reading = ledger.verify(path)
    assert reading.ok and len(reading.entries) == 2 and reading.notes() == []
    with ledger.writing(path) as session:
        session.append(fields(2))
    assert session.repairs == ["completed the last entry of provenance/review-ledger.jsonl (its newline was missing)"]
    reading = ledger.verify(path)
    assert reading.ok and len(reading.entries) == 3 and path.read_bytes().endswith(b"\n")


def test_a_crash_in_the_middle_of_write_leaves_a_valid_ledger(path, monkeypatch):
    write(path, 2)
    real_write = os.write

    def crash_half_way(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError("power lost")
    monkeypatch.setattr(ledger.os, "write", crash_half_way)
    with pytest.raises(OSError, match="power lost"):
        with ledger.writing(path) as session:
            session.append(fields(2))
    monkeypatch.setattr(ledger.os, "write", real_write)

    reading = ledger.verify(path)
    assert reading.ok and len(reading.entries) == 2 and reading.torn_bytes > 0
    with ledger.writing(path) as session:
        session.append(fields(3))
    reading = ledger.verify(path)
    assert reading.ok and [e["seq"] for e in reading.entries] == [1, 2, 3]
    assert reading.entries[2]["rule"] == "check.rule_3"


# ---------------------------------------------------------------- several processes at once

def _try_lock(path, results):
    try:
        with FileLock(ledger.lock_path(path), timeout=0):
            results.put("acquired")
    except Timeout:
        results.put("held by another process")


def test_a_writer_holds_the_lock_against_other_processes(path):
    """Deterministic half of the concurrency test: while a session is open, another process
    cannot take the ledger's lock; once it ends, it can."""
    ctx = multiprocessing.get_context(START_METHOD)
    results = ctx.Queue()

    def attempt():
        child = ctx.Process(target=_try_lock, args=(path, results))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        return results.get(timeout=10)

    with ledger.writing(path) as session:
        session.append(fields(0))
        assert attempt() == "held by another process"
    assert attempt() == "acquired"
    assert len(ledger.verify(path).entries) == 1


def _worker(path, who, count, barrier):
    barrier.wait()
    for i in range(count):
        with ledger.writing(path) as session:
            session.append({**fields(i, who), "time": "2026-03-01T09:00:00Z"})   # writers interleave: one time


def test_concurrent_writers_lose_nothing(path):
    writers, count = 6, 15
    ctx = multiprocessing.get_context(START_METHOD)
    barrier = ctx.Barrier(writers)
    procs = [ctx.Process(target=_worker, args=(path, f"Writer {w}", count, barrier)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * writers

    reading = ledger.verify(path)
    assert reading.ok and reading.notes() == []
    assert len(reading.entries) == writers * count
    assert len(lines(path)) == writers * count
    for w in range(writers):  # every writer's entries landed, in its own order
        mine = [e["rule"] for e in reading.entries if e["by"] == f"Writer {w}"]
        assert mine == [f"check.rule_{i}" for i in range(count)]
