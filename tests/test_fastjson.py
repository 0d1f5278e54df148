"""engine/common/fastjson.py writes exactly the bytes the standard library's json writes, for the
two forms bmdkb prints (compact batch lines, `evaluate --format json`'s indent of two), on every
shipped case's result, generated results and arbitrary documents; what orjson cannot write the
same way goes to json."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmdkb.engine.common import fastjson
from bmdkb.engine.run.cases import read_case

from conftest import CASES, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402


def stdlib_compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def stdlib_indented(obj):
    return json.dumps(obj, indent=2, ensure_ascii=False)


def same(obj):
    assert fastjson.compact(obj) == stdlib_compact(obj)
    assert fastjson.compact_bytes(obj) == stdlib_compact(obj).encode("utf-8")
    assert fastjson.indented(obj) == stdlib_indented(obj)


def test_orjson_is_there():
    """The speed-up is in use (a runtime dependency); without it the output would still be the same."""
    assert fastjson.orjson is not None


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_result(evaluator, path):
    same(evaluator.evaluate(read_case(path, str(path)), path.name).result)


def test_generated_results(evaluator):
    for case in generate.generate(150, seed=31):
        same(evaluator.evaluate(case, "x", today=dt.date(2030, 1, 1)).result)


@pytest.mark.parametrize("value", [1e-05, -3.2e-07, 0.0001, 0.00012, 1e16, 1.5e300, 5e-324, -0.0, 2.0 ** 53,
                                   10 ** 30, -(2 ** 64), 0.1 + 0.2, "e-", "10.00001", "0.0000", "\x00\x1f\x7f\u2028é"])
def test_the_values_that_differ_or_look_as_if(value):
    same({"value": value, "list": [value, {"nested": value}]})


@pytest.mark.parametrize("text, differs", [
    (b'{"v":1e-7}', True), (b'[1.5e-7,2]', True), (b'{"v":[5e-324]}', True), (b'1e-7', True), (b'{"v":0.00001}', True),
    (b'{"v": 1e-7\n}', True), (b'{"u":"fe3e2fc3-8f6e-569d-beb6-ebd6848"}', False), (b'{"u":"a1e-5b"}', False),
    (b'{"s":"time-1"}', False), (b'{"v":1e+16}', False), (b'{"s":"3e-4,"}', True)])
def test_which_orjson_texts_are_written_again_by_json(text, differs):
    # a card's uuids hold "6e-5..." often; they must not send 38 KB through the slow path, while
    # every float orjson writes differently still does (a string that looks like one may, too)
    assert fastjson._differs(text) is differs


def test_what_json_refuses_it_still_refuses():
    @dataclasses.dataclass
    class Thing:
        x: int

    for bad in (Thing(1), dt.date(2030, 1, 1), {1, 2}):
        with pytest.raises(TypeError):
            fastjson.compact({"x": bad})
        with pytest.raises(TypeError):
            fastjson.compact_bytes({"x": bad})
        with pytest.raises(TypeError):
            stdlib_compact({"x": bad})
    same({1: "non-string key"})   # json writes it as "1"; orjson refuses, so json writes it


_scalars = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_documents = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(_documents)
def test_arbitrary_documents(document):
    same(document)


# ---------------------------------------------------------------- the cold path

COLD = ("import sys; sys.argv = ['bmdkb', 'evaluate', sys.argv[1], '--format', 'json', '--kb', sys.argv[2]]\n"
        "from bmdkb.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('loaded:', ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jsonschema', 'filelock', 'clips', 'pyarrow', 'dask', 'distributed') or m.startswith(("
        "'bmdkb.engine.authoring', 'bmdkb.cli.commands.review', 'bmdkb.cli.commands.lint', "
        "'bmdkb.engine.explain', 'bmdkb.engine.kb.reader')))), file=sys.stderr)\n")


def cold_modules(root, case, tmp_path) -> list[str]:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "BMDKB_NO_CACHE"} | {"BMDKB_CACHE_DIR": str(tmp_path / "c")}
    command = [sys.executable, "-c", COLD, str(case), str(root)]
    subprocess.run(command, env=env, capture_output=True, check=True)   # warms the checked-KB cache
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.startswith("{")
    return next(line for line in done.stderr.splitlines() if line.startswith("loaded:")).split()[1:]


def test_a_cold_evaluate_loads_only_what_a_valid_case_needs(shipped_kb_copy, tmp_path):
    """No linter, no other command, no explainer, no lock, no second engine, no optional
    dependency; and with no ledger entries to verify, no jsonschema either (the case itself
    passes the fast check, engine/common/fastcheck.py)."""
    (shipped_kb_copy / "provenance" / "review-ledger.jsonl").write_text("")
    assert cold_modules(shipped_kb_copy, CASES / "spine-up-hip-down.yaml", tmp_path) == []
