"""What verifying the signed review ledger costs, and what the verdict cache saves.

    python benchmarks/ledger.py [--entries 1000] [--repeat 5]

Builds a throw-away copy of the small test knowledge base, gives its board keys, adopts the
roster and records ``--entries`` signed decisions (submit / request changes, round and round),
then times, as the median of ``--repeat`` runs: ``ledger.read`` (every hash and signature
checked), ``verdicts.reading`` on a cold cache (the same, plus storing the verdict), and
``verdicts.reading`` on a warm cache (the cold path of a later `evaluate`). Not a test: nothing
fails on a number.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import keyring  # noqa: E402 - the tests' key helper

from bmdkb.engine.kb import knowledge_base  # noqa: E402
from bmdkb.engine.review import governance, ledger, verdicts  # noqa: E402


def build(root: Path, entries: int) -> None:
    keyring.ensure(root)
    kb = knowledge_base.load(root)
    author, reviewer = keyring.key(root, "Test Author"), keyring.key(root, "Dr Bo Reviewer")
    rules = list(kb.rules)
    t = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    done = 0
    while done < entries:
        for rule in rules:
            if done >= entries:
                break
            governance.decide(kb, "submit", rule, key=author, now=t)
            done += 1
            if done < entries:
                governance.decide(kb, "request-changes", rule, key=reviewer, note="Again.", now=t)
                done += 1


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "kb"
        shutil.copytree(HERE.parent / "tests" / "fixtures" / "mini-kb", root)
        os.environ.pop("BMDKB_NO_CACHE", None)
        cache = Path(tmp) / "cache"
        os.environ["BMDKB_CACHE_DIR"] = str(cache)
        start = time.perf_counter()
        build(root, args.entries)
        per_decision = (time.perf_counter() - start) * 1000 / args.entries
        path = root / ledger.LEDGER_FILE
        assert ledger.read(path).ok

        def cold():
            shutil.rmtree(cache, ignore_errors=True)
            verdicts.reading(path)

        full = median_ms(lambda: ledger.read(path), args.repeat)
        stored = median_ms(cold, args.repeat)
        verdicts.reading(path)
        warm = median_ms(lambda: verdicts.reading(path), args.repeat)
        print(f"{args.entries} signed entries ({path.stat().st_size // 1024} KiB):")
        print(f"  ledger.read, every hash and signature checked: {full:8.1f} ms  "
              f"({full * 1000 / args.entries:.0f} us per entry)")
        print(f"  verdicts.reading, cold cache (check + store):  {stored:8.1f} ms")
        print(f"  verdicts.reading, warm cache:                  {warm:8.1f} ms")
        print(f"  one signed decision, on average while building: {per_decision:7.1f} ms")


if __name__ == "__main__":
    main()
