"""The benchmark: bmdkb on both rule engines and every output format, against the floor (plain
Python) and a peer (the rules hand-translated to CLIPS), side by side in one run.

    python benchmarks/run.py [--cases 5000] [--repeat 3] [--million] [--markdown FILE]

Every variant runs on the same generated cases (benchmarks/generate.py: mostly
concordant, a fifth discordant, artefacts, missing data, pitfalls), in one
process, interleaved repetition by repetition so a busy machine slows all of
them alike. Before timing, every variant's decisions are checked against the
floor's on every case, and the two engines' firings against each other.
Reported: cases per second, per-case median and p99 latency, the ratio of
per-case cost to the floor's (one core), where a case's time goes inside
``evaluate``, ``bmdkb batch`` throughput for each engine and output format (and
the 1.1.0 encoder, and Dask), and the cold-start wall time of ``bmdkb evaluate``
on one case against the import floor (``import yaml, jsonschema, click``).
``--million`` adds the resident memory of one process before and after
evaluating a million cases (takes a quarter of an hour or more).

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

from bmdkb.engine.run import batch, engines, registry  # noqa: E402
from bmdkb.engine.common import fastjson  # noqa: E402

from bmdkb.engine.kb import knowledge_base  # noqa: E402
from bmdkb.engine.adapters.dxa.adapter import case_to_facts, validate_case  # noqa: E402
from bmdkb.engine.run.evaluate import Evaluator  # noqa: E402
from bmdkb.engine.run.results import build_result  # noqa: E402
from bmdkb.engine.run import document as result_document  # noqa: E402

REPO = HERE.parent
ONE_CASE = REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml"
BMDKB = Path(sys.executable).parent / "bmdkb"
_stdlib_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode   # 1.1.0's encoder
_dumps = fastjson.compact


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

# Per-case figures are CPU time of this thread: on a shared machine wall time also counts the
# turns other processes take on the core (the load average is printed with the figures).
CLOCK = time.thread_time_ns


def time_variant(fn, items) -> tuple[float, list]:
    """(CPU seconds for all items, per-item CPU nanoseconds)."""
    clock = CLOCK
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
    clips_evaluator = Evaluator(kb, engine="clips")
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
    disagree = {"engine": 0, "clips engine": 0, "durable vs clips": 0, "peer": 0}
    for case, case_facts in zip(cases, facts):
        expected = floor.decide(case)
        on_durable = evaluator.evaluate(case, case["case_id"], today=today)
        on_clips = clips_evaluator.evaluate(case, case["case_id"], today=today)
        if floor_module.engine_decisions(on_durable) != expected:
            disagree["engine"] += 1
        if floor_module.engine_decisions(on_clips) != expected:
            disagree["clips engine"] += 1
        if engines.disagreement(on_durable, on_clips):
            disagree["durable vs clips"] += 1
        if peer and peer.run(case_facts) != expected:
            disagree["peer"] += 1
    return cases, facts, (evaluator, clips_evaluator), floor, peer, today, disagree


def stage_breakdown(kb, evaluator, cases, today, repeat: int) -> dict:
    """Mean microseconds per case of each step `evaluate` takes, timed case by case
    (nothing kept between cases, as in a batch worker); the fastest of ``repeat`` passes."""
    runtime, statuses = evaluator.runtime, evaluator.statuses
    names = ["check the case (schema and dates)", "derive facts (DXA adapter)",
             f"run the rules ({evaluator.engine} + actions)", "build the result document",
             "(batch only) write it as one JSON line (full)", "(batch only) write it as one compact line"]
    best = None
    clock = CLOCK
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
            _dumps(result_document.to_dict(result))
            t5 = clock()
            _dumps(registry.compact(result))
            t6 = clock()
            for i, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6))):
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
                t = CLOCK()
                try:
                    return fn(*args)
                finally:
                    spent[0] += CLOCK() - t
            return timed

    rt = runtime.Runtime(kb)
    runtime._engine = Timed()
    try:
        start = CLOCK()
        for case_facts in facts:
            rt.run(case_facts)
        total = CLOCK() - start
    finally:
        runtime._engine = real
    return spent[0] / len(facts) / 1e3, total / len(facts) / 1e3


def batch_throughput(kb, cases, workers: int = 1, engine: str = "durable", output_format: str = "full",
                     dask_address: str | None = None, stdlib_json: bool = False) -> dict:
    """Cases per second of ``batch.run`` end to end (JSON Lines in), and output bytes per case."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.jsonl"
        source.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        out = Path(folder) / ("out.parquet" if output_format == "parquet" else "out.jsonl")
        encoder = batch._dumps
        if stdlib_json:
            batch._dumps = _stdlib_dumps   # 1.1.0 wrote its lines with the standard library's encoder
        try:
            start = time.perf_counter()
            batch.run(kb, source, out, workers=workers, engine=engine, output_format=output_format,
                      dask_address=dask_address)
            seconds = time.perf_counter() - start
        finally:
            batch._dumps = encoder
        size = sum(p.stat().st_size for p in out.iterdir()) if out.is_dir() else out.stat().st_size
        return {"cases_per_s": len(cases) / seconds, "bytes_per_case": size / len(cases)}


def batch_rows(kb, cases, repeat: int, with_dask: bool) -> dict:
    """Every engine and output format on one worker (the 1.1.0 encoder as the baseline), then
    the default on all cores and on a local two-worker Dask cluster; median of ``repeat`` runs
    interleaved."""
    plans = {"full, durable, 1.1.0 JSON encoder (the 1.1.0 baseline)": dict(stdlib_json=True)}
    for engine in engines.ENGINES:
        for fmt in registry.FORMATS:
            plans[f"{fmt}, {engine}"] = dict(engine=engine, output_format=fmt)
    cores = os.cpu_count() or 1
    if cores > 1:
        plans[f"full, durable, {cores} workers"] = dict(workers=cores)
        plans[f"compact, clips, {cores} workers"] = dict(workers=cores, engine="clips", output_format="compact")
    cluster = None
    if with_dask:
        try:
            from dask.distributed import LocalCluster
            cluster = LocalCluster(n_workers=min(cores, 2), threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None)
            plans[f"full, durable, Dask ({min(cores, 2)} local workers)"] = dict(dask_address=cluster.scheduler_address)
            plans[f"compact, clips, Dask ({min(cores, 2)} local workers)"] = dict(
                dask_address=cluster.scheduler_address, engine="clips", output_format="compact")
        except ImportError:
            pass
    runs = {name: [] for name in plans}
    try:
        for _ in range(repeat):
            for name, plan in plans.items():
                gc.collect()
                runs[name].append(batch_throughput(kb, cases, **{"workers": 1, **plan}))
    finally:
        if cluster is not None:
            cluster.close()
    return {name: {"cases_per_s": statistics.median(r["cases_per_s"] for r in rs),
                   "bytes_per_case": rs[0]["bytes_per_case"]} for name, rs in runs.items()}


IMPORT_FLOOR = [sys.executable, "-c", "import yaml, jsonschema, click"]
# The shipped knowledge base with no review decisions: what a cold start costs once the ledger's
# entries need no verifying (a cached verdict); made in a temporary folder by main().
EMPTY_LEDGER_KB = Path(tempfile.gettempdir()) / "bmdkb-bench-empty-ledger"


def make_empty_ledger_kb() -> None:
    import shutil
    shutil.rmtree(EMPTY_LEDGER_KB, ignore_errors=True)
    shutil.copytree(REPO / "knowledge", EMPTY_LEDGER_KB / "knowledge")
    shutil.copytree(REPO / "provenance", EMPTY_LEDGER_KB / "provenance")
    (EMPTY_LEDGER_KB / "provenance" / "review-ledger.jsonl").write_text("")


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


def million(kb, n: int, engine: str = "durable") -> dict:
    evaluator = Evaluator(kb, engine=engine)
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
    return {"cases": n, "engine": engine, "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "growth_mb": round(after - before, 1), "rss_every_100k_mb": samples,
            "minutes": round((time.perf_counter() - start) / 60, 1)}


# ---------------------------------------------------------------- report

def report(m: dict, rows: dict, disagree: dict, n: int, stages: dict, c_engine: float, batch_rates: dict,
           cold: dict, mem: dict | None) -> str:
    floor_us = next(iter(rows.values()))["mean_us"]  # the first row is the floor
    counts = ", ".join(f"{k}: {v}" for k, v in disagree.items())
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}; durable_rules "
             f"{m['durable_rules']}, clipspy {m['clipspy']}; load average at start {m['load_average']}, at end "
             f"{m.get('load_average_end')} ({m['date']}). {n} generated cases; disagreements with the floor, "
             f"and between the engines ({counts}).", "",
             "Per-case figures are CPU time of the benchmark thread (one core); the ratio is mean cost per "
             "case over the floor's.", "",
             "| variant | cases/s (one core) | median µs | p99 µs | cost per case vs floor |",
             "|---|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['cases_per_s']:,.0f} | {r['median_us']:.0f} | {r['p99_us']:.0f} | "
                     f"{r['mean_us'] / floor_us:.1f}× |")
    lines += ["", "Where one `evaluate` goes (mean µs per case, each engine):", "",
              "| step | " + " | ".join(stages) + " |", "|---|" + "---:|" * len(stages)]
    steps = list(next(iter(stages.values())))
    for i, step in enumerate(steps):
        cells = [f"{list(s.values())[i]:.0f}" for s in stages.values()]
        lines.append(f"| {step.replace('durable + ', '').replace('clips + ', '')} | " + " | ".join(cells) + " |")
    lines += ["", f"Inside the rule stage, durable_rules' C extension itself takes {c_engine[0]:.0f} µs of "
              f"{c_engine[1]:.0f} µs per case (every call into it timed on the same runs); the rest is the "
              "Python side: actions, fact records, JSON hand-over.", ""]
    baseline = next(iter(batch_rates.values()))["cases_per_s"]
    lines += ["| `bmdkb batch` (JSON Lines in): output, engine | cases/s | vs 1.1.0 baseline | output bytes/case |",
              "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['cases_per_s']:,.0f} | {v['cases_per_s'] / baseline:.2f}× | {v['bytes_per_case']:,.0f} |"
              for k, v in batch_rates.items()]
    floor_s = cold.get("import floor: `python -c 'import yaml, jsonschema, click'`", {}).get("median_s")
    lines += ["", "| cold start (new process, wall) | median s | max s | vs import floor |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['median_s']:.3f} | {v['max_s']:.3f} | "
              f"{(v['median_s'] / floor_s) if floor_s else float('nan'):.2f}× |" for k, v in cold.items()]
    if mem:
        lines += ["", f"Resident memory over {mem['cases']:,} cases in one process ({mem['engine']}): "
                  f"{mem['rss_before_mb']} MB "
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
    parser.add_argument("--million-engine", choices=engines.ENGINES, default="durable")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-dask", action="store_true", help="leave out the Dask batch rows")
    parser.add_argument("--batch-repeat", type=int, default=1, help="repetitions of each batch run")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument("--json", type=Path, help="write all figures as JSON here")
    args = parser.parse_args(argv)

    m = machine()
    kb = knowledge_base.load(REPO)
    cases, facts, (evaluator, on_clips), floor, peer, today, disagree = build(kb, args.cases, args.seed,
                                                                               not args.no_peer)
    variants = {"plain Python (the floor): decisions only": (floor.decide, cases)}
    for name, ev in (("durable", evaluator), ("clips", on_clips)):
        variants[f"`evaluate` on {name}: check + facts + rules + result document"] = (
            lambda c, ev=ev: ev.evaluate(c, "x", today=today).document, cases)
        variants[f"`evaluate` on {name} + full JSON line (per-case work of `batch`)"] = (
            lambda c, ev=ev: _dumps(ev.evaluate(c, "x", today=today).result), cases)
        variants[f"`evaluate` on {name} + compact line"] = (
            lambda c, ev=ev: _dumps(registry.compact(ev.evaluate(c, "x", today=today).document)), cases)
        variants[f"`evaluate` on {name} + Parquet rows"] = (
            lambda c, ev=ev: registry.rows(ev.evaluate(c, "x", today=today).document, 0, "x"), cases)
    variants["`evaluate` on durable + full JSON line, 1.1.0 JSON encoder"] = (
        lambda c: _stdlib_dumps(evaluator.evaluate(c, "x", today=today).result), cases)
    variants["rule stage only: bmdkb on durable_rules"] = (evaluator.runtime.run, facts)
    variants["rule stage only: bmdkb on CLIPS"] = (on_clips.runtime.run, facts)
    if peer:
        variants["rule stage only: the rules hand-translated to CLIPS (peer, no trace)"] = (peer.run, facts)
    rows = run_variants(variants, args.repeat)
    stages = {name: stage_breakdown(kb, ev, cases, today, args.repeat)
              for name, ev in (("durable", evaluator), ("clips", on_clips))}
    c_engine = engine_floor(kb, facts)
    batch_rates = batch_rows(kb, cases, args.batch_repeat, not args.no_dask)
    one = ["evaluate", str(ONE_CASE), "--format", "json"]
    make_empty_ledger_kb()
    cold = {"import floor: `python -c 'import yaml, jsonschema, click'`": cold_start([], 7, IMPORT_FLOOR),
            "`bmdkb evaluate` one case (durable)": cold_start(one, 7),
            "`bmdkb evaluate` one case (clips)": cold_start(one + ["--engine", "clips"], 7),
            "`bmdkb evaluate` one case, empty review ledger (no entries to verify)": cold_start(
                one + ["--kb", str(EMPTY_LEDGER_KB)], 7),
            "`bmdkb --help`": cold_start(["--help"], 7)}
    m["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    mem = million(kb, args.million_cases, args.million_engine) if args.million else None
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
