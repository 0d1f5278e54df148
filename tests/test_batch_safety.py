"""`bmdkb batch` never destroys data: it refuses to overwrite its input, names a missing
output folder, refuses to splice runs of another mode or knowledge base, stops cleanly on a
full disk, and its workers do not outlive it."""
from __future__ import annotations

import errno
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
from bmdkb.engine.common import exitstatus

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

BMDKB = [sys.executable, "-c", "from bmdkb.cli.main import main; main()"]


def registry(path: Path, n: int, seed: int = 21, bad: float = 0.0) -> bytes:
    path.write_text("".join(json.dumps(c) + "\n" for c in generate.generate(n, seed=seed, bad=bad)), encoding="utf-8")
    return path.read_bytes()


def refused(result) -> str:
    assert result.exit_code == exitstatus.BAD_INPUT, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result.stderr


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_the_output_is_never_the_input(runner, tmp_path, link):
    source = tmp_path / "registry.jsonl"
    before = registry(source, 3)
    output = source
    if link == "symlink":
        output = tmp_path / "out.jsonl"
        output.symlink_to(source)
    elif link == "hardlink":
        output = tmp_path / "out.jsonl"
        os.link(source, output)
    for extra in ([], ["--resume"]):
        message = refused(runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "1", *extra]))
        assert f"Error: {output}: is the input {source} (the same file)" in message
        assert source.read_bytes() == before


def test_the_output_is_never_inside_the_input_folder(runner, tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(next(generate.generate(1, seed=1))))
    message = refused(runner.invoke(cli, ["batch", str(folder), "-o", str(folder / "out.jsonl"), "--workers", "1"]))
    assert "is inside the input folder" in message
    assert sorted(p.name for p in folder.iterdir()) == ["a.json"]


def test_a_missing_output_folder_is_bad_input_naming_it(runner, tmp_path):
    source = tmp_path / "registry.jsonl"
    registry(source, 2)
    output = tmp_path / "no-such-folder" / "out.jsonl"
    message = refused(runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "1"]))
    assert message == f"Error: {output}: its folder {output.parent} does not exist (create it first)\n"


def test_resume_refuses_another_mode(runner, tmp_path):
    source = tmp_path / "registry.jsonl"
    registry(source, 4)
    output = tmp_path / "out.jsonl"
    runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "1"])
    first_two = b"".join(output.read_bytes().splitlines(keepends=True)[:2])
    output.write_bytes(first_two)
    message = refused(runner.invoke(cli, ["batch", str(source), "-o", str(output), "--resume", "--approved-only"]))
    assert "was written in preview mode, not approved-only" in message
    assert output.read_bytes() == first_two
    batch.run_path(output).unlink()  # without the record, the result lines themselves say the mode
    message = refused(runner.invoke(cli, ["batch", str(source), "-o", str(output), "--resume", "--approved-only"]))
    assert f"Error: {output}: line 1: was written in preview mode, not approved-only" in message


def test_resume_refuses_another_knowledge_base_when_the_last_lines_are_errors(runner, tmp_path, mini_kb_root):
    source = tmp_path / "registry.jsonl"
    source.write_bytes(b"[1]\n[2]\n[3]\n")  # error lines only: they record no knowledge base
    output = tmp_path / "out.jsonl"
    assert runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "1"]).exit_code == 2
    kept = b"".join(output.read_bytes().splitlines(keepends=True)[:2])
    output.write_bytes(kept)
    message = refused(runner.invoke(cli, ["batch", str(source), "-o", str(output), "--resume",
                                          "--kb", str(mini_kb_root)]))
    assert "was written with knowledge base sha256:" in message and output.read_bytes() == kept
    batch.run_path(output).unlink()
    message = refused(runner.invoke(cli, ["batch", str(source), "-o", str(output), "--resume"]))
    assert "has no run record (out.jsonl.run.json) and holds only error lines" in message
    assert output.read_bytes() == kept


def test_a_full_disk_is_bad_input_and_leaves_only_complete_lines(runner, tmp_path, monkeypatch):
    source = tmp_path / "registry.jsonl"
    registry(source, 300, bad=0.02)
    reference = tmp_path / "reference.jsonl"
    runner.invoke(cli, ["batch", str(source), "-o", str(reference), "--workers", "1"])
    real, calls = batch._write, []

    def filling_up(fd, data):
        calls.append(len(data))
        if len(calls) == 3:  # the third chunk: half of it lands, then the disk is full
            os.write(fd, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(batch, "_write", filling_up)
    output = tmp_path / "out.jsonl"
    message = refused(runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "1"]))
    assert (f"Error: {output}: cannot be written: the disk is full (No space left on device); it holds the first "
            f"{2 * batch.CHUNK} cases, each on a complete line") in message
    written = output.read_bytes()
    assert written.endswith(b"\n") and written.count(b"\n") == 2 * batch.CHUNK
    assert reference.read_bytes().startswith(written)
    monkeypatch.setattr(batch, "_write", real)
    runner.invoke(cli, ["batch", str(source), "-o", str(output), "--workers", "1", "--resume"])
    assert output.read_bytes() == reference.read_bytes()


def _children(pid: int) -> set[int]:
    try:
        return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited (nobody reaped it yet)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to find the workers")
def test_workers_die_with_a_killed_parent(tmp_path):
    source = tmp_path / "registry.jsonl"
    registry(source, 3000, seed=22)
    output = tmp_path / "out.jsonl"
    process = subprocess.Popen(BMDKB + ["batch", str(source), "-o", str(output), "--workers", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and process.poll() is None:
            workers = _children(process.pid)
            if len(workers) >= 2 and output.exists() and output.stat().st_size > 0:
                break
            time.sleep(0.05)
        assert len(workers) >= 2 and process.poll() is None, "the batch did not start its workers"
        os.kill(process.pid, signal.SIGKILL)  # the parent only, not its process group
        process.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "workers outlived their killed parent"
    finally:
        with_group = process.pid
        try:
            os.killpg(with_group, signal.SIGKILL)
        except ProcessLookupError:
            pass


WATCHED_CHILD = """
import os, sys, time
from bmdkb.engine.run import batch
sys.platform = "other"          # no prctl: only the portable watcher thread
parent = os.getpid()
child = os.fork()
if child == 0:
    batch._die_with_parent(parent)
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(0.3)
os.kill(parent, 9)
"""


@pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self").is_dir(), reason="needs fork and /proc")
def test_the_portable_watcher_ends_a_worker_whose_parent_died():
    done = subprocess.run([sys.executable, "-c", WATCHED_CHILD], capture_output=True, text=True, timeout=60)
    child = int(done.stdout.split()[0])
    try:
        deadline = time.monotonic() + 5 * batch.PARENT_POLL_SECONDS + 5
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child), "the worker outlived its parent"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
