"""`batch --dask` on a local cluster (127.0.0.1 only): the same output as local workers for every
engine and output format, and the worker settings that remove Dask's per-case penalty applied."""
from __future__ import annotations

import json
import sys

import pytest

from bmdkb.cli.main import cli
from bmdkb.engine.run import batch

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

distributed = pytest.importorskip("dask.distributed")


def _is_profiling(dask_worker=None):
    callbacks = dask_worker.periodic_callbacks
    return any(callbacks[name].is_running() for name in ("profile", "profile-cycle") if name in callbacks)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


def test_compact_clips_on_dask_equals_local_workers_and_the_profiler_is_off(cluster, tmp_path, runner):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(c) + "\n" for c in generate.generate(150, seed=8, bad=0.05)))
    with distributed.Client(cluster.scheduler_address) as client:
        assert all(client.run(_is_profiling).values())   # Dask's default
    local, on_dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    common = ["--output-format", "compact", "--engine", "clips"]
    assert runner.invoke(cli, ["batch", str(source), "-o", str(local), "--workers", "1", *common]).exit_code == 2
    result = runner.invoke(cli, ["batch", str(source), "-o", str(on_dask), "--dask", cluster.scheduler_address,
                                 *common])
    assert result.exit_code == 2, result.output   # some cases are spoiled on purpose
    assert on_dask.read_bytes() == local.read_bytes()
    assert batch.summary_path(on_dask).read_text() == batch.summary_path(local).read_text()
    with distributed.Client(cluster.scheduler_address) as client:
        assert not any(client.run(_is_profiling).values())


def test_the_tuning_reports_what_it_changed(cluster):
    with distributed.Client(cluster.scheduler_address) as client:
        changed = client.run(batch.tune_dask_worker)
    assert len(changed) == 2
    for worker in changed.values():
        assert worker["profile"] == "stopped"
        if sys.platform.startswith("linux"):
            assert worker["trim_threshold"] and worker["mmap_threshold"]
