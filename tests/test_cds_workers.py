"""`bmdkb serve --workers N`: calls evaluated by N worker processes, shared out call by call.

End to end, a real `bmdkb serve --workers 2` on 127.0.0.1 gives the same cards, byte for byte,
as one process, and stops cleanly; the pool itself (service/pool.py) is driven directly to show
that calls go to every worker, that a worker that dies fails only the calls it held and is
replaced, and that a failure is answered 500 without a traceback in the log."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from dataclasses import replace

import httpx
import pytest
import yaml

from bmdkb.engine import api
from bmdkb.service import config as settings
from bmdkb.service.answering import Answerer
from bmdkb.service.pool import EvaluationPool, WorkerFailure

import cds_bundle
from cds_server import SPEC_ISS, EXTERNAL, ServerProcess
from conftest import CASES, REPO

PATIENT = "p-4410"
CASE = yaml.safe_load((CASES / "spine-up-hip-down.yaml").read_text())


def hook_body():
    return {"hookInstance": "0b5b2c1e-61a5-4c3e-9d55-4f6a1c0e9b21", "hook": "patient-view",
            "context": {"userId": "Practitioner/example", "patientId": PATIENT},
            "prefetch": cds_bundle.prefetch(CASE, PATIENT)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-workers")
    (folder / "facility.json").write_text(json.dumps(cds_bundle.FACILITY))
    (folder / "serve.yaml").write_text(yaml.safe_dump({
        "issuers": {SPEC_ISS: {"jwks_file": str(EXTERNAL / "23-jwks.json")}},
        "facility": "facility.json", "feedback_store": "feedback.jsonl"}))
    return folder


def _cards(process: ServerProcess) -> bytes:
    answer = process.call(hook_body())
    assert answer.status_code == 200, answer.text
    return answer.content.replace(process.base.encode(), b"BASE")   # links point at the server called


def test_workers_give_the_cards_one_process_gives_and_stop_cleanly(workdir):
    one = ServerProcess(["--kb", str(REPO), "--config", "serve.yaml"], workdir)
    try:
        expected = _cards(one)
    finally:
        one.close()
    two = ServerProcess(["--kb", str(REPO), "--config", "serve.yaml", "--workers", "2"], workdir)
    try:
        assert "2 evaluation workers" in two.log_text()
        with httpx.Client(base_url=two.base, timeout=30) as client:
            async def many():
                async with httpx.AsyncClient(base_url=two.base, timeout=30) as calls:
                    from cds_server import token
                    return await asyncio.gather(*(calls.post(
                        "/cds-services/bmdkb-discordant-bmd", json=hook_body(),
                        headers={"Authorization": f"Bearer {token(two.url())}"}) for _ in range(12)))
            answers = asyncio.run(many())
            assert client.get("/cds-services").status_code == 200
        assert [a.status_code for a in answers] == [200] * 12
        assert {a.content.replace(two.base.encode(), b"BASE") for a in answers} == {expected}
        timing = answers[0].headers["server-timing"]
        assert all(f"{phase};dur=" in timing for phase in ("check", "gather", "evaluate", "cards", "wait", "total"))
    finally:
        two.close()
    assert two.process.returncode == 0
    log = two.log_path.read_text()
    assert "Traceback" not in log and "Finished server process" in log


def test_bad_worker_counts_are_refused_with_exit_2(tmp_path, runner):
    from bmdkb.cli.main import cli

    result = runner.invoke(cli, ["serve", "--kb", str(REPO), "--allow-unsigned", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.stderr
    path = tmp_path / "serve.yaml"
    for value, says in ((0, "must be between 1 and 64"), ("two", "must be a number of evaluation worker")):
        path.write_text(yaml.safe_dump({"allow_unsigned": True, "workers": value}))
        result = runner.invoke(cli, ["serve", "--kb", str(REPO), "--config", str(path)])
        assert result.exit_code == 2, result.output
        assert "workers" in result.stderr and says in result.stderr and "Traceback" not in result.output


# ------------------------------------------------------------------------- the pool itself

@pytest.fixture(scope="module")
def kb():
    return api.load_checked_kb(REPO)


@pytest.fixture(scope="module")
def config(kb):
    return replace(settings.read(None, allow_unsigned=True), facility=cds_bundle.FACILITY)


@pytest.fixture(scope="module")
def bundle():
    from bmdkb.service import fhir

    gathered = asyncio.run(fhir.gather(fhir.prefetch_keys([]), PATIENT, cds_bundle.prefetch(CASE, PATIENT),
                                       None, None, None))
    return gathered.bundle


def _with_pool(config, workers, body):
    """Run ``body(pool)`` (a coroutine function) on a fresh pool, always stopped afterwards."""
    pool = EvaluationPool(config, str(REPO), workers)

    async def run():
        await pool.attach()
        try:
            return await body(pool)
        finally:
            await pool.close()
    try:
        return asyncio.run(run())
    finally:
        for worker in pool.workers:
            assert not worker.process.is_alive()


def test_calls_are_shared_out_to_every_worker_and_answer_as_in_process(kb, config, bundle):
    expected = Answerer(config, kb, api.Evaluator(kb)).answer(bundle, "hook x", "http://127.0.0.1:1", [])

    async def body(pool):
        calls = [asyncio.ensure_future(pool.answer(bundle, "hook x", "http://127.0.0.1:1", [])) for _ in range(6)]
        await asyncio.sleep(0)   # each worker holds two (one evaluated, the next in its pipe); two wait
        holding = [len(w.calls) for w in pool.workers]
        waiting = len(pool.waiting)
        answers = await asyncio.gather(*calls)
        return holding, waiting, answers

    holding, waiting, answers = _with_pool(config, 2, body)
    assert holding == [2, 2] and waiting == 2
    assert {a.body for a in answers} == {expected.body}
    assert [a.infos for a in answers] == [expected.infos] * 6


def test_a_worker_that_dies_fails_only_the_calls_it_held_and_is_replaced(kb, config, bundle):
    async def body(pool):
        first = pool.workers[0]
        os.kill(first.process.pid, signal.SIGSTOP)   # it cannot answer before it dies
        calls = [asyncio.ensure_future(pool.answer(bundle, "hook x", "http://127.0.0.1:1", [])) for _ in range(3)]
        await asyncio.sleep(0)
        # idle workers get a call before a busy one gets a second: the first holds calls 1 and 3
        assert len(first.calls) == 2 and len(pool.workers[1].calls) == 1
        os.kill(first.process.pid, signal.SIGKILL)
        for held in (calls[0], calls[2]):
            with pytest.raises(WorkerFailure, match="stopped while it held this call"):
                await held
        assert (await calls[1]).cards == 5
        others = await asyncio.gather(*(pool.answer(bundle, "hook x", "http://127.0.0.1:1", []) for _ in range(4)))
        deadline = time.monotonic() + 60
        while not pool.workers[0].ready and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return first, others, pool.workers[0], pool.workers[0].ready

    first, others, replacement, ready = _with_pool(config, 2, body)
    assert all(a.cards == 5 for a in others)
    assert replacement is not first and ready


def test_a_failure_in_a_worker_is_answered_500_with_no_traceback(workdir, kb, config):
    from bmdkb.service.app import Service, create_app

    calls = []

    class Failing:   # stands in for the pool: what a worker's failure looks like to the server
        async def attach(self):
            pass

        async def close(self):
            pass

        async def answer(self, *args):
            calls.append(args)
            raise WorkerFailure("the evaluation worker failed: KeyError at adapter.py:12")

    service = Service(replace(config, allow_unsigned=True), kb, pool=Failing())

    async def call():
        app = create_app(service)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            await service.start()
            try:
                return await client.post("/cds-services/bmdkb-discordant-bmd", json=hook_body())
            finally:
                await service.stop()

    answer = asyncio.run(call())   # raise_app_exceptions: anything re-raised past the app fails here
    assert calls and answer.status_code == 500
    assert answer.json() == {"error": {"status": 500, "message": "the service failed on this request; the "
                                       "failure is logged (no patient data)"}}


def test_a_replacement_that_cannot_start_is_not_started_again(kb, config, bundle, tmp_path, caplog):
    async def body(pool):
        pool.root = str(tmp_path / "no-knowledge-base-here")   # every later start fails
        for worker in list(pool.workers):
            os.kill(worker.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while pool._left() and time.monotonic() < deadline:   # each replacement fails once, and stays gone
            await asyncio.sleep(0.05)
        with pytest.raises(WorkerFailure, match="no evaluation worker is left"):
            await pool.answer(bundle, "hook x", "http://127.0.0.1:1", [])
        return len(pool.workers)

    assert _with_pool(config, 2, body) == 2
    did_not_start = [r for r in caplog.records if "did not start" in r.getMessage()]
    assert len(did_not_start) == 2 and "KnowledgeBaseError" in did_not_start[0].getMessage()


def test_a_worker_that_cannot_start_stops_the_pool_before_the_port_opens(config, tmp_path):
    with pytest.raises(WorkerFailure, match=r"an evaluation worker did not start: KnowledgeBaseError"):
        EvaluationPool(config, str(tmp_path / "no-knowledge-base-here"), 2)
