"""FHIR R4 input and output cost per case, next to the same case as YAML.

    python benchmarks/fhir_input.py [N] [--seed S]

Generates N cases (benchmarks/generate.py), writes each as the FHIR Bundle a health system would
hold (tests/fhir_bundles.py: LOINC Observations, a Device per scanner, MedicationStatement,
Condition, Patient), and times per case on one core: the contract case evaluated; the Bundle
checked with fhir.resources, mapped and evaluated; `--format fhir` (built and checked); and
`--format prov`. Prints a Markdown table (the README's FHIR section quotes it)."""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fhir_bundles import bundle_for  # noqa: E402
from generate import generate_case  # noqa: E402

from bmdkb.cli.render import prov  # noqa: E402
from bmdkb.engine import api  # noqa: E402


def _times(fn, items) -> list[float]:
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    cases = [generate_case(rng, f"bench-{i}") for i in range(args.n)]
    bundles = [bundle_for(case) for case in cases]
    kb = api.load_kb(ROOT)
    evaluator = api.Evaluator(kb)
    api.evaluate_bundle(evaluator, *bundles[0][:1], "warm-up", bundles[0][1])   # models built, caches warm
    evaluations = [api.evaluate_bundle(evaluator, b, "b", f) for b, f in bundles]
    rows = [
        ("contract case (YAML/JSON): evaluate", _times(lambda c: evaluator.evaluate(c, "c"), cases)),
        ("FHIR Bundle: checked (fhir.resources), mapped, evaluated",
         _times(lambda bf: api.evaluate_bundle(evaluator, bf[0], "b", bf[1]), bundles)),
        ("`--format fhir`: Bundle built and checked", _times(lambda e: api.fhir_output(e, kb), evaluations)),
        ("`--format prov`: PROV-JSON written", _times(lambda e: prov.to_json(e.result, e.file), evaluations)),
    ]
    entries = statistics.median(len(b["entry"]) for b, _ in bundles)
    print(f"{args.n} generated cases (seed {args.seed}); median Bundle {entries:.0f} entries\n")
    print("| step (one core) | median ms | p90 ms |")
    print("|---|---:|---:|")
    for name, times in rows:
        times = sorted(times)
        print(f"| {name} | {statistics.median(times) * 1000:.1f} | {times[int(len(times) * 0.9)] * 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
