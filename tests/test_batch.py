"""`bmdkb batch`: one line per case in input order, equal to evaluating case by case;
bad cases become error lines and are counted; interrupted runs resume to the same
bytes; the Dask path gives the same output as local processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bmdkb.cli.main import cli
from bmdkb.engine.run import batch
from bmdkb.engine.adapters.dxa.adapter import parse_case
from bmdkb.engine.common.errors import BmdkbError

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

BMDKB = [sys.executable, "-c", "from bmdkb.cli.main import main; main()"]


def write_cases(path: Path, cases) -> list[dict]:
    cases = list(cases)
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return cases


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def compact(document) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def test_batch_equals_evaluate_case_by_case(tmp_path, runner, evaluator):
    source = tmp_path / "registry.jsonl"
    cases = write_cases(source, generate.generate(2000, seed=3, bad=0.02))
    output = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "2"])
    written = output.read_text(encoding="utf-8").splitlines()
    assert len(written) == len(cases)
    errors = 0
    for n, (case, line) in enumerate(zip(cases, written), 1):
        name = f"{source}:line {n}"
        try:
            expected = compact(evaluator.evaluate(case, name).result)
        except BmdkbError as exc:
            errors += 1
            doc = json.loads(line)
            assert doc["case_index"] == n - 1 and doc["case_id"] == case["case_id"] and doc["source"] == name
            assert doc["error"]["message"] == str(exc)
            assert doc["error"]["problems"] == [{"file": p.file, "field": p.field, "message": p.message}
                                                for p in exc.problems]
            continue
        assert line == expected, f"case {n} differs"
    assert 20 < errors < 80  # the generator spoils about 2% on purpose
    assert result.exit_code == 2
    summary = json.loads(batch.summary_path(output).read_text())
    assert (summary["cases"], summary["results"], summary["errors"]) == (2000, 2000 - errors, errors)
    assert summary["input_errors"] == errors and summary["defects"] == 0
    assert sum(summary["patterns"].values()) == 2000 - errors


def test_folder_input_gives_the_messages_evaluate_prints(tmp_path, runner):
    folder = tmp_path / "cases"
    folder.mkdir()
    good = next(generate.generate(1, seed=1))
    (folder / "a-good.json").write_text(json.dumps(good))
    (folder / "b-mg.yaml").write_text("case_id: mg\nscans:\n  - date: 2020-01-01\n    sites:\n"
                                      "      lumbar_spine: {bmd_g_cm2: 912}\n")
    (folder / "c-notes.txt").write_text("not a case file: ignored")
    output = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", str(folder), "-o", str(output), "--workers", "1"])
    assert result.exit_code == 2
    first, second = lines(output)
    single = runner.invoke(cli, ["evaluate", str(folder / "a-good.json"), "--format", "json"])
    assert first == json.loads(single.output)
    bad = runner.invoke(cli, ["evaluate", str(folder / "b-mg.yaml")])
    assert bad.exit_code == 2
    assert bad.stderr == "".join(f"Error: {line}\n" for line in second["error"]["message"].splitlines())
    assert second["error"]["message"] == (
        f"{folder / 'b-mg.yaml'}: scans[0].sites.lumbar_spine.bmd_g_cm2: 912 is outside the plausible range "
        "for BMD in g/cm2 (above 0, at most 2.5) (it looks like mg/cm2: give BMD in g/cm2, e.g. 0.912)")


def test_bad_lines_are_reported_counted_and_never_stop_the_batch(tmp_path, runner):
    source = tmp_path / "in.jsonl"
    good = list(generate.generate(3, seed=2))
    source.write_bytes(
        (json.dumps(good[0]) + "\n").encode()
        + b'{"case_id": "torn", "scans": [\n'
        + b"\n"                                   # blank: skipped, not a case
        + b"[1, 2]\n"
        + (json.dumps(good[1]) + "\n").encode()
        + b'{"case_id": "bad-agent", "scans": [{"date": "2020-01-01"}], "treatment": {"agent": "vitamin_k"}}\n'
        + b"\xff\xfe\n"
        + json.dumps(good[2]).encode())           # no newline at the end: still a case
    output = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "2"])
    assert result.exit_code == 2
    docs = lines(output)
    assert len(docs) == 7
    assert [d.get("case_id") for d in docs] == [good[0]["case_id"], None, None, good[1]["case_id"], "bad-agent",
                                                None, good[2]["case_id"]]
    name = str(source)
    assert docs[1] == {"case_index": 1, "source": f"{name}:line 2", "error": {
        "kind": "input", "message": f"{name}:line 2: not valid JSON: Expecting value (line 2, column 1)",
        "problems": [{"file": f"{name}:line 2", "field": "",
                      "message": "not valid JSON: Expecting value (line 2, column 1)"}]}}
    assert docs[2]["error"]["message"] == f"{name}:line 4: (top level): [1, 2] is not of type 'object'"
    assert docs[2]["case_index"] == 2
    assert docs[4]["error"]["message"] == (
        f"{name}:line 6: treatment.agent: 'vitamin_k' is not one of alendronate, risedronate, ibandronate, "
        "zoledronic_acid, denosumab, teriparatide, abaloparatide, romosozumab, raloxifene, hormone_therapy, other")
    assert docs[5]["error"]["message"] == (f"{name}:line 7: cannot be read: 'utf-8' codec can't decode byte 0xff "
                                           "in position 0: invalid start byte")
    summary = json.loads(batch.summary_path(output).read_text())
    assert (summary["cases"], summary["results"], summary["errors"], summary["input_errors"]) == (7, 3, 4, 4)
    assert [e["case_index"] for e in summary["first_errors"]] == [1, 2, 4, 5]
    assert "7 cases: 3 evaluated, 4 errors" in result.stderr
    assert f"Error: case 1: {name}:line 2: not valid JSON" in result.stderr


def _uninterrupted(tmp_path, source: Path, runner) -> tuple[bytes, dict]:
    reference = tmp_path / "reference.jsonl"
    runner.invoke(cli, ["batch", str(source), "-o", str(reference), "--workers", "2"])
    return reference.read_bytes(), json.loads(batch.summary_path(reference).read_text())


def test_resume_after_a_torn_write_gives_the_uninterrupted_bytes(tmp_path, runner):
    source = tmp_path / "in.jsonl"
    write_cases(source, generate.generate(300, seed=4, bad=0.03))
    expected, expected_summary = _uninterrupted(tmp_path, source, runner)
    output = tmp_path / "out.jsonl"
    cut = expected.index(b"\n", len(expected) // 3) + 500     # 500 bytes into some line
    output.write_bytes(expected[:cut])
    result = runner.invoke(cli, ["batch", str(source), "-o", str(output), "--resume", "--workers", "2"])
    assert result.exit_code == 2  # the spoiled cases
    assert output.read_bytes() == expected
    summary = json.loads(batch.summary_path(output).read_text())
    assert summary == dict(expected_summary, input=str(source))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe and process groups (POSIX)")
def test_resume_after_kill_gives_the_uninterrupted_bytes(tmp_path, runner):
    """Killed at a deterministic point: the input is a named pipe fed 10.5 chunks of cases and
    never closed, so the run can write exactly 10 chunks and must then wait, holding half a
    chunk it has read but not written. It is killed once those 10 chunks are on disk (a bounded
    poll: the deadline only stops a hang; no sleep decides where the kill lands)."""
    source = tmp_path / "in.jsonl"
    cases = write_cases(source, generate.generate(1000, seed=5, bad=0.01))
    expected, expected_summary = _uninterrupted(tmp_path, source, runner)
    data = source.read_bytes()
    written, fed = 10 * batch.CHUNK, 10 * batch.CHUNK + batch.CHUNK // 2
    assert len(cases) > fed and data.count(b"\n") == len(cases)  # one case per line, no blank lines
    source.unlink()
    os.mkfifo(source)  # the same name, so error lines name the same source as in `expected`
    output = tmp_path / "out.jsonl"
    process = subprocess.Popen(BMDKB + ["batch", str(source), "-o", str(output), "--workers", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # wait for the batch to open the pipe (opening it blocking would hang if it never did)
            try:
                pipe = os.open(source, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "batch never opened its input"
                time.sleep(0.01)
        os.set_blocking(pipe, True)
        end = 0
        for _ in range(fed):
            end = data.index(b"\n", end) + 1
        view = memoryview(data[:end])
        while view:  # blocking writes: they return as the batch reads
            view = view[os.write(pipe, view):]
        prefix = expected[:sum(len(line) for line in expected.splitlines(keepends=True)[:written])]
        while not (output.exists() and output.stat().st_size >= len(prefix)):
            assert process.poll() is None and time.monotonic() < deadline, "the batch stopped or hung"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        os.close(pipe)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    killed = output.read_bytes()
    assert killed == prefix, "the killed run must have written exactly its 10 complete chunks"
    assert not batch.summary_path(output).exists()
    source.unlink()
    source.write_bytes(data)
    result = runner.invoke(cli, ["batch", str(source), "-o", str(output), "--resume", "--workers", "2"])
    assert result.exit_code == 2
    assert output.read_bytes() == expected
    assert json.loads(batch.summary_path(output).read_text()) == expected_summary


def test_resume_refuses_an_output_from_another_input(tmp_path, runner):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_cases(first, generate.generate(5, seed=6))
    write_cases(second, generate.generate(5, seed=7))
    output = tmp_path / "out.jsonl"
    runner.invoke(cli, ["batch", str(first), "-o", str(output), "--workers", "1"])
    before = output.read_bytes()
    output.write_bytes(before[:before.index(b"\n") + 1])
    result = runner.invoke(cli, ["batch", str(second), "-o", str(output), "--resume"])
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {output}: line 1: is case 'gen-6-0000000' but input case 1 is "
                             "'gen-7-0000000': the output is not from this input; run without --resume\n")


def test_dask_local_cluster_gives_identical_output(tmp_path, runner):
    distributed = pytest.importorskip("dask.distributed")
    source = tmp_path / "in.jsonl"
    write_cases(source, generate.generate(400, seed=8, bad=0.02))
    local = tmp_path / "local.jsonl"
    runner.invoke(cli, ["batch", str(source), "-o", str(local), "--workers", "2"])
    on_dask = tmp_path / "dask.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = runner.invoke(cli, ["batch", str(source), "-o", str(on_dask), "--dask", cluster.scheduler_address])
    assert result.exit_code == 2, result.output
    assert on_dask.read_bytes() == local.read_bytes()
    assert batch.summary_path(on_dask).read_text() == batch.summary_path(local).read_text()


def test_threads_of_one_dask_worker_each_get_their_own_engine(tmp_path, runner):
    distributed = pytest.importorskip("dask.distributed")
    source = tmp_path / "in.jsonl"
    write_cases(source, generate.generate(200, seed=9))
    local = tmp_path / "local.jsonl"
    runner.invoke(cli, ["batch", str(source), "-o", str(local), "--workers", "1"])
    on_dask = tmp_path / "dask.jsonl"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=3, processes=False,
                                  dashboard_address=None) as cluster:
        result = runner.invoke(cli, ["batch", str(source), "-o", str(on_dask), "--dask", cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    assert on_dask.read_bytes() == local.read_bytes()


def test_a_defect_on_one_case_is_its_error_line_and_exit_1(tmp_path, runner, monkeypatch):
    source = tmp_path / "in.jsonl"
    cases = write_cases(source, generate.generate(3, seed=10))
    real = parse_case

    def broken(text, name, as_json=False):
        case = real(text, name, as_json)
        if case["case_id"] == cases[1]["case_id"]:
            raise RuntimeError("boom")
        return case

    monkeypatch.setattr(batch, "parse_case", broken)
    output = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "1"])
    assert result.exit_code == 1
    docs = lines(output)
    assert len(docs) == 3 and "error" not in docs[0] and "error" not in docs[2]
    assert docs[1]["error"]["kind"] == "defect"
    assert docs[1]["error"]["message"] == "internal error: RuntimeError: boom"
