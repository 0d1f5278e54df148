"""Write every user-visible output of a checkout to a folder, to prove a refactor changed none.

Not a test module (pytest does not collect it): a structural change is checked by running it on
the old and the new checkout and comparing the two folders byte for byte::

    python tests/snapshot_outputs.py cases   OUT/cases      # once: the inputs (shipped, rule-test, generated)
    python tests/snapshot_outputs.py outputs OUT/cases OUT/before    # in the old checkout's venv
    python tests/snapshot_outputs.py outputs OUT/cases OUT/after     # in the new checkout's venv
    diff -r OUT/before OUT/after && echo byte-identical

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


def write_outputs(cases: Path, out: Path) -> None:
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
    for path in files:
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


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "cases":
        write_cases(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "outputs":
        write_outputs(Path(sys.argv[2]).resolve(), Path(sys.argv[3]))
    else:
        sys.exit(__doc__)
