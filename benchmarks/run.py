"""The benchmark: bmdkb's engine against the floor (plain Python) and a peer (CLIPS), side by side.

    python benchmarks/run.py [--cases 5000] [--repeat 3] [--million] [--markdown FILE]

Every variant runs on the same generated cases (benchmarks/generate.py: mostly
concordant, a fifth discordant, artefacts, missing data, pitfalls), in one
process, interleaved repetition by repetition so a busy machine slows all of
them alike. Before timing, every variant's decisions are checked against the
floor's on every case. Reported: cases per second, per-case median and p99
latency, the ratio of per-case cost to the floor's, where a case's time goes
inside ``evaluate``, ``bmdkb batch`` throughput, and the cold-start wall time of
``bmdkb evaluate`` on one case and of ``bmdkb --help``. ``--million`` adds the
resident memory of one process before and after evaluating a million cases
(takes a quarter of an hour or more).

This is a benchmark, not a test: nothing here fails on a number.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import floor as floor_module  # noqa: E402
import generate  # noqa: E402

from bmdkb.engine.run import batch  # noqa: E402

from bmdkb.engine.kb import knowledge_base  # noqa: E402
from bmdkb.engine.adapters.dxa.adapter import case_to_facts, validate_case  # noqa: E402
from bmdkb.engine.run.evaluate import Evaluator  # noqa: E402
from bmdkb.engine.run.results import build_result  # noqa: E402

REPO = HERE.parent
ONE_CASE = REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml"
BMDKB = Path(sys.executable).parent / "bmdkb"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# ---------------------------------------------------------------- machine

def machine() -> dict:
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "durable_rules": version("durable-rules"),
            "clipspy": version("clipspy"), "load_average": [round(x, 2) for x in os.getloadavg()],
            "date": dt.date.today().isoformat()}


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---------------------------------------------------------------- timing

def time_variant(fn, items) -> tuple[float, list]:
    """(seconds for all items, per-item nanoseconds)."""
    clock = time.perf_counter_ns
    laps = []
    start = clock()
    for item in items:
        t = clock()
        fn(item)
        laps.append(clock() - t)
    return (clock() - start) / 1e9, laps


def percentile(sorted_values, q) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run_variants(variants: dict, repeat: int) -> dict:
    totals = {name: [] for name in variants}
    laps = {name: [] for name in variants}
    for _ in range(repeat):
        for name, (fn, items) in variants.items():
            gc.collect()
            seconds, per = time_variant(fn, items)
            totals[name].append(len(items) / seconds)
            laps[name].extend(per)
    out = {}
    for name in variants:
        ordered = sorted(laps[name])
        out[name] = {"cases_per_s": statistics.median(totals[name]),
                     "mean_us": statistics.fmean(ordered) / 1e3,
                     "median_us": percentile(ordered, 0.5) / 1e3, "p99_us": percentile(ordered, 0.99) / 1e3}
    return out


# ---------------------------------------------------------------- the parts

def build(kb, n: int, seed: int, with_peer: bool):
    cases = list(generate.generate(n, seed))
    evaluator = Evaluator(kb)
    today = dt.date.today()
    floor = floor_module.Floor(kb)
    facts = [case_to_facts(c, kb.domain_data["treatment_classes"]) for c in cases]
    peer = None
    if with_peer:
        try:
            import peer_clips
            peer = peer_clips.ClipsPeer(kb)
        except ImportError:
            print("clipspy is not installed: no peer row (pip install clipspy==1.0.6)", file=sys.stderr)
    # Honesty first: every variant decides exactly what the floor decides, on every case.
    disagree = {"engine": 0, "peer": 0}
    for case, case_facts in zip(cases, facts):
        expected = floor.decide(case)
        if floor_module.engine_decisions(evaluator.evaluate(case, case["case_id"], today=today)) != expected:
            disagree["engine"] += 1
        if peer and peer.run(case_facts) != expected:
            disagree["peer"] += 1
    return cases, facts, evaluator, floor, peer, today, disagree


def stage_breakdown(kb, evaluator, cases, today, repeat: int) -> dict:
    """Mean microseconds per case of each step `evaluate` takes, timed case by case
    (nothing kept between cases, as in a batch worker); the fastest of ``repeat`` passes."""
    runtime, statuses = evaluator.runtime, evaluator.statuses
    names = ["check the case (schema and dates)", "derive facts (DXA adapter)",
             "run the rules (durable_rules + actions)", "build the result document",
             "(batch only) write it as one JSON line"]
    best = None
    clock = time.perf_counter_ns
    for _ in range(repeat):
        spent = [0] * len(names)
        gc.collect()
        for c in cases:
            t0 = clock()
            validate_case(c, "x", today)
            t1 = clock()
            facts = case_to_facts(c, kb.domain_data["treatment_classes"])
            t2 = clock()
            firings, asserted = runtime.run(facts)
            t3 = clock()
            result = build_result(kb, c["case_id"], facts, firings, asserted, statuses, False)
            t4 = clock()
            _dumps(result)
            t5 = clock()
            for i, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
                spent[i] += b - a
        if best is None or sum(spent) < sum(best):
            best = spent
    return {name: ns / len(cases) / 1e3 for name, ns in zip(names, best)}


def engine_floor(kb, facts) -> tuple[float, float]:
    """(µs per case inside durable_rules' C extension, µs per case for the whole rule stage),
    measured on the real runs by timing every call the runtime makes into the extension."""
    from bmdkb.engine.run import runtime

    real = runtime._engine
    spent = [0]

    class Timed:
        def __getattr__(self, name):
            fn = getattr(real, name)

            def timed(*args):
                t = time.perf_counter_ns()
                try:
                    return fn(*args)
                finally:
                    spent[0] += time.perf_counter_ns() - t
            return timed

    rt = runtime.Runtime(kb)
    runtime._engine = Timed()
    try:
        start = time.perf_counter_ns()
        for case_facts in facts:
            rt.run(case_facts)
        total = time.perf_counter_ns() - start
    finally:
        runtime._engine = real
    return spent[0] / len(facts) / 1e3, total / len(facts) / 1e3


def batch_throughput(kb, cases, workers: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.jsonl"
        source.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        start = time.perf_counter()
        batch.run(kb, source, Path(folder) / "out.jsonl", workers=workers)
        return len(cases) / (time.perf_counter() - start)


# `bmdkb` with its knowledge base loaded through engine/kb/cache.py (what `load_kb` would do once wired)
WITH_KB_CACHE = ("import sys; from bmdkb.cli import main as m; from bmdkb.engine import kbcache; "
                 "m.load_kb = kbcache.load; sys.argv[0] = 'bmdkb'; m.main()")


def cold_start(args: list[str], repeat: int, command: list[str] | None = None) -> dict:
    """Wall time of a new process, after one unmeasured run (OS file cache and any on-disk cache warm)."""
    command = command or [str(BMDKB)]
    walls = []
    for n in range(repeat + 1):
        start = time.perf_counter()
        subprocess.run(command + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=REPO)
        if n:
            walls.append(time.perf_counter() - start)
    return {"median_s": statistics.median(walls), "max_s": max(walls), "min_s": min(walls)}


def million(kb, n: int) -> dict:
    evaluator = Evaluator(kb)
    today = dt.date.today()
    stream = generate.generate(n + 20000, seed=99)
    for _ in range(20000):  # warm-up: every cache and pool at its working size
        evaluator.evaluate(next(stream), "x", today=today)
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    samples = []
    for i, case in enumerate(stream):
        evaluator.evaluate(case, "x", today=today)
        if i % 100000 == 99999:
            samples.append(round(rss_mb(), 1))
    gc.collect()
    after = rss_mb()
    return {"cases": n, "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "growth_mb": round(after - before, 1), "rss_every_100k_mb": samples,
            "minutes": round((time.perf_counter() - start) / 60, 1)}


# ---------------------------------------------------------------- report

def report(m: dict, rows: dict, disagree: dict, n: int, stages: dict, c_engine: float, batch_rates: dict,
           cold: dict, mem: dict | None) -> str:
    floor_us = next(iter(rows.values()))["mean_us"]  # the first row is the floor
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}; durable_rules "
             f"{m['durable_rules']}, clipspy {m['clipspy']}; load average at start {m['load_average']} "
             f"({m['date']}). {n} generated cases, every variant agreeing with the floor on every case "
             f"(engine disagreements: {disagree['engine']}, peer: {disagree['peer']}).", "",
             "| variant | cases/s (one core) | median µs | p99 µs | cost per case vs floor |",
             "|---|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['cases_per_s']:,.0f} | {r['median_us']:.0f} | {r['p99_us']:.0f} | "
                     f"{r['mean_us'] / floor_us:.1f}× |")
    lines += ["", "Where one `evaluate` goes (mean µs per case):", "", "| step | µs |", "|---|---:|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in stages.items()]
    lines += ["", f"Inside the rule stage, durable_rules' C extension itself takes {c_engine[0]:.0f} µs of "
              f"{c_engine[1]:.0f} µs per case (every call into it timed on the same runs); the rest is the "
              "Python side: actions, fact records, JSON hand-over.", ""]
    lines += ["| `bmdkb batch` (JSON Lines in and out) | cases/s |", "|---|---:|"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in batch_rates.items()]
    lines += ["", "| cold start (new process, wall) | median s | max s |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['median_s']:.2f} | {v['max_s']:.2f} |" for k, v in cold.items()]
    if mem:
        lines += ["", f"Resident memory over {mem['cases']:,} cases in one process: {mem['rss_before_mb']} MB "
                  f"after warm-up, {mem['rss_after_mb']} MB after ({mem['growth_mb']:+} MB; every 100k: "
                  f"{mem['rss_every_100k_mb']}; {mem['minutes']} min)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--million", action="store_true", help="also measure memory over 1,000,000 cases")
    parser.add_argument("--million-cases", type=int, default=1_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument("--json", type=Path, help="write all figures as JSON here")
    args = parser.parse_args(argv)

    m = machine()
    kb = knowledge_base.load(REPO)
    cases, facts, evaluator, floor, peer, today, disagree = build(kb, args.cases, args.seed, not args.no_peer)
    variants = {
        "plain Python (the floor): decisions only": (floor.decide, cases),
        "bmdkb `evaluate`: check + facts + rules + result document": (
            lambda c: evaluator.evaluate(c, "x", today=today), cases),
        "bmdkb `evaluate` + JSON line (per-case work of `batch`)": (
            lambda c: _dumps(evaluator.evaluate(c, "x", today=today).result), cases),
        "rule stage only: bmdkb on durable_rules": (evaluator.runtime.run, facts),
    }
    if peer:
        variants["rule stage only: same rules in CLIPS (peer)"] = (peer.run, facts)
    rows = run_variants(variants, args.repeat)
    stages = stage_breakdown(kb, evaluator, cases, today, args.repeat)
    c_engine = engine_floor(kb, facts)
    batch_rates = {f"{w} worker{'s' if w > 1 else ''}": batch_throughput(kb, cases, w)
                   for w in sorted({1, os.cpu_count() or 1})}
    one = ["evaluate", str(ONE_CASE), "--format", "json"]
    cold = {"`bmdkb evaluate` one case": cold_start(one, 7),
            "`bmdkb evaluate` one case, knowledge base from engine/kb/cache.py": cold_start(
                one, 7, [sys.executable, "-c", WITH_KB_CACHE]),
            "`bmdkb --help`": cold_start(["--help"], 7)}
    mem = million(kb, args.million_cases) if args.million else None
    text = report(m, rows, disagree, args.cases, stages, c_engine, batch_rates, cold, mem)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"machine": m, "rows": rows, "stages_us": stages, "c_engine_us": c_engine,
                                         "batch_cases_per_s": batch_rates, "cold_start": cold, "memory": mem,
                                         "disagreements": disagree}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
