"""Write every user-visible output of a checkout to a folder, to prove a refactor changed none.

Not a test module (pytest does not collect it): a structural change is checked by running it on
the old and the new checkout and comparing the two folders byte for byte::

    python tests/snapshot_outputs.py cases   OUT/cases      # once: the inputs (shipped, rule-test, generated)
    python tests/snapshot_outputs.py outputs OUT/cases OUT/before    # in the old checkout's venv
    python tests/snapshot_outputs.py outputs OUT/cases OUT/after     # in the new checkout's venv
    diff -r OUT/before OUT/after && echo byte-identical

A quicker look while working: ``outputs OUT/cases OUT/after --sample 10`` runs every tenth input
(all shipped ones, and the knowledge-base-wide commands), and ``compare OUT/before OUT/after``
names every output of the second folder that differs from the first (exit 1 if any).

Everything goes through the `bmdkb` command (in-process, through click's test runner), so the
check depends only on the command line, which a restructure keeps. Recorded for each output:
stdout, stderr and the exit status. Covered: evaluate (json, text, markdown, --explain, and
--approved-only json) on every case; explain (why, in text and json, for both audiences) of
every conclusion of the shipped cases and of every third rule-test case; why-not of every
conclusion code on the shipped cases; lint (text and json), test (text and json, with coverage),
validate, review status, and bad inputs.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_cases(out: Path) -> None:
    """The inputs: shipped cases, every rule-test case (derived by the checkout's own code),
    200 generated benchmark cases, and a few bad inputs."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bmdkb.engine.authoring.rule_tests import load_test_files
    except ImportError:  # after the restructure
        from bmdkb.engine.authoring.rule_tests import load_test_files  # type: ignore
    import generate  # benchmarks/generate.py

    out.mkdir(parents=True, exist_ok=False)
    for path in sorted((REPO / "knowledge" / "cases").glob("*.yaml")):
        (out / f"shipped--{path.name}").write_bytes(path.read_bytes())
    for n, test_file in enumerate(load_test_files(REPO)):
        for i, test in enumerate(test_file.cases):
            (out / f"ruletest--{n:03d}-{i:02d}.json").write_text(json.dumps(test.case, default=str, indent=1))
    for i, case in enumerate(generate.generate(200, seed=7)):
        (out / f"generated--{i:03d}.json").write_text(json.dumps(case, indent=1))
    (out / "bad--not-a-mapping.yaml").write_text("- 1\n- 2\n")
    (out / "bad--mg.yaml").write_text((REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml").read_text()
                                      .replace("0.9", "912", 1))


def write_outputs(cases: Path, out: Path, sample: int = 1) -> None:
    """Run every command on every input of ``cases`` and write what it printed to ``out``."""
    os.environ["BMDKB_NOW"] = "2026-06-01"
    os.environ.pop("BMDKB_KB", None)
    from click.testing import CliRunner

    from bmdkb.cli.main import cli

    runner = CliRunner()
    out.mkdir(parents=True, exist_ok=False)
    kb = ["--kb", str(REPO)]

    def record(name: str, args: list[str]) -> str:
        result = runner.invoke(cli, args, catch_exceptions=False)
        stderr = result.stderr.replace(str(REPO), "<repo>").replace(str(cases), "<cases>")
        stdout = result.stdout.replace(str(REPO), "<repo>").replace(str(cases), "<cases>")
        (out / f"{name}.out").write_text(f"exit {result.exit_code}\n--- stderr\n{stderr}--- stdout\n{stdout}")
        return result.stdout

    files = sorted(cases.iterdir())
    for n, path in enumerate(files):
        if sample > 1 and n % sample and not path.name.startswith("shipped--"):
            continue
        stem = path.name
        document = record(f"{stem}.evaluate.json", ["evaluate", *kb, "--format", "json", str(path)])
        record(f"{stem}.evaluate.text", ["evaluate", *kb, str(path)])
        record(f"{stem}.evaluate.markdown", ["evaluate", *kb, "--format", "markdown", "--explain", str(path)])
        record(f"{stem}.evaluate.approved-only", ["evaluate", *kb, "--approved-only", "--format", "json", str(path)])
        if stem.startswith("bad--"):
            continue
        codes = [c["code"] for c in json.loads(document)["conclusions"]]
        explained = stem.startswith("shipped--") or (stem.startswith("ruletest--") and hash_pick(stem))
        if explained:
            for code in codes:
                record(f"{stem}.explain.{code}.text", ["explain", *kb, str(path), code])
                record(f"{stem}.explain.{code}.json", ["explain", *kb, "--format", "json", str(path), code])
                record(f"{stem}.explain.{code}.patient", ["explain", *kb, "--audience", "patient", str(path), code])
        if stem.startswith("shipped--"):
            every = json.loads((REPO / "schemas" / "conclusion-codes.json").read_text())
            for code in sorted(_codes(every)):
                record(f"{stem}.why-not.{code}.text", ["explain", *kb, "--why-not", str(path), code])
                record(f"{stem}.why-not.{code}.json", ["explain", *kb, "--why-not", "--format", "json", str(path), code])
    record("lint.text", ["lint", *kb])
    record("lint.json", ["lint", *kb, "--format", "json"])
    record("test.text", ["test", *kb, "--coverage"])
    record("test.json", ["test", *kb, "--format", "json"])
    record("validate", ["validate", *kb, *[str(p) for p in files if p.name.startswith("shipped--")]])
    record("review.status", ["review", *kb, "status"])


def hash_pick(name: str) -> bool:
    """Every third rule-test case, chosen by a stable digest of its name (not Python's hash)."""
    import hashlib

    return hashlib.sha256(name.encode()).digest()[0] % 3 == 0


def _codes(document) -> set[str]:
    """Every conclusion code listed in schemas/conclusion-codes.json, whatever its nesting."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "code" and isinstance(value, str):
                found.add(value)
            else:
                found |= _codes(value)
    elif isinstance(document, list):
        for item in document:
            found |= _codes(item)
    return found


def compare(before: Path, after: Path) -> int:
    """Name every output in ``after`` whose bytes differ from (or are missing in) ``before``."""
    differing = [p.name for p in sorted(after.iterdir())
                 if not (before / p.name).is_file() or (before / p.name).read_bytes() != p.read_bytes()]
    for name in differing:
        print(f"differs: {name}")
    print(f"{len(differing)} of {len(list(after.iterdir()))} outputs differ")
    return 1 if differing else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "cases":
        write_cases(Path(args[1]))
    elif len(args) in (3, 5) and args[0] == "outputs":
        write_outputs(Path(args[1]).resolve(), Path(args[2]), int(args[4]) if len(args) == 5 else 1)
    elif len(args) == 3 and args[0] == "compare":
        sys.exit(compare(Path(args[1]), Path(args[2])))
    else:
        sys.exit(__doc__)
