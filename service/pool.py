"""Evaluation worker processes (``bmdkb serve --workers N``): the CPU part of calls on N cores.

One Python process evaluates one call at a time, so with one process a call waits for every call
before it. With ``--workers N`` the process that answers HTTP (and checks tokens, keeps the
``jti`` replay cache and gathers data, so each of those stays in one place) hands each call's
Bundle to one of N worker processes, which evaluates it and writes the cards' JSON (answering.py).
Calls are shared out one by one, in the order they came (idle workers first, then each worker
a second call to hold: see CALLS_HELD), not connection by connection: an EHR keeps a few
connections open for hours, and binding each to one process would leave one core idle while
another queues.

Each worker has its own pipe, read by the server's event loop: a call costs the server about a
twentieth of a millisecond to hand out and take back, against a quarter with the standard
library's ProcessPoolExecutor (whose queue threads also take turns with the server for the GIL).
Workers come from a fork server (Python's ``forkserver`` start method: no worker is forked from a
threaded process) and each loads the checked knowledge base from its cache at start. A worker
that dies (a crash in a rule engine's C code, say) fails only the calls it held (answered 500) and
is started again. Workers ignore SIGINT and SIGTERM: the server stops them, after the calls in
flight, by closing their pipes; they also end when the server dies.
"""
from __future__ import annotations

import asyncio
import collections
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import traceback
from multiprocessing.connection import Connection

from bmdkb.engine import api
from bmdkb.service.answering import Answer, Answerer

log = logging.getLogger("bmdkb.service")
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 10
CALLS_HELD = 2   # calls a worker holds at once: the one it evaluates and the next, waiting in its pipe
_READY = b"ready"


class WorkerFailure(Exception):
    """An evaluation worker failed on the call, or stopped while it held it (answered 500)."""


def failure_place(exc: BaseException) -> str:
    """Kind and place of a failure (file and line), for the log: never its message, which could
    hold patient data. Used for failures in a worker and in the server alike."""
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    return f"{type(exc).__name__} at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else type(exc).__name__


def _worker_main(conn, config, root: str) -> None:
    """A worker: load the knowledge base, say ready, then answer calls from ``conn`` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)   # so does a service manager's stop: the server stops us
    try:
        kb = api.load_checked_kb(root)
        answerer = Answerer(config, kb, api.Evaluator(kb))
        answerer.warm_up()
    except Exception as exc:   # reported to the server, which stops with a short message
        conn.send_bytes(pickle.dumps(("failed", failure_place(exc))))
        return
    gc.collect()
    gc.freeze()   # as in the server: what lives as long as the process stays out of GC scans
    conn.send_bytes(_READY)
    while True:
        try:
            bundle, label, base, notes = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):   # the server closed the pipe, or died
            return
        try:
            reply = ("ok", answerer.answer(bundle, label, base, notes))
        except Exception as exc:
            reply = ("failed", failure_place(exc))
        conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _frame(data: bytes) -> bytes:
    """``data`` as multiprocessing's Connection frames it (a 4-byte length, then the bytes), so the
    worker reads and writes with a plain blocking Connection while the server uses asyncio streams."""
    return struct.pack("!i", len(data)) + data


class _Worker:
    """One worker process, the server's end of its pipe and the calls it holds."""

    def __init__(self, context, config, root: str):
        self.sock, child = socket.socketpair()
        child_conn = Connection(child.detach())
        self.process = context.Process(target=_worker_main, args=(child_conn, config, root), daemon=True,
                                       name="bmdkb-evaluation-worker")
        self.process.start()
        child_conn.close()
        self.ready = False
        self.gone = False          # stopped and not replaced
        self.calls: collections.deque = collections.deque()   # the calls it holds, in the order it answers them
        self.writer: asyncio.StreamWriter | None = None
        self.reading: asyncio.Task | None = None

    def started(self, timeout: float) -> str | None:
        """Wait (blocking) for the worker to say it is ready; None when it is, else why not. Read
        through a Connection on a copy of the socket: the stdlib's framing, for this one wait."""
        waiting = Connection(os.dup(self.sock.fileno()))
        try:
            message = waiting.recv_bytes() if waiting.poll(timeout) else None
        except (EOFError, OSError):   # it stopped before it said anything
            message = None
        finally:
            waiting.close()
        if message is None:
            return f"it stopped or did not answer within {timeout:.0f} s"
        return None if message == _READY else pickle.loads(message)[1]


class EvaluationPool:
    """N worker processes evaluating Bundles for one knowledge base with one set of settings.

    Started (and every worker ready) when made; ``attach`` puts it on the server's event loop."""

    def __init__(self, config, root: str, workers: int):
        methods = multiprocessing.get_all_start_methods()
        self.context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.config = config
        self.root = str(root)
        self.waiting: collections.deque = collections.deque()   # (payload, future), oldest first
        self.closing = False
        self.workers = [_Worker(self.context, config, self.root) for _ in range(workers)]
        for worker in self.workers:   # a start that fails, fails here, before the port opens
            why = worker.started(START_TIMEOUT_SECONDS)
            if why is not None:
                self._stop_all()
                raise WorkerFailure(f"an evaluation worker did not start: {why}")
            worker.ready = True

    async def attach(self) -> None:
        """Read and write the workers' pipes on the running event loop (the server's)."""
        for worker in self.workers:
            await self._connect(worker)

    async def _connect(self, worker: _Worker) -> None:
        reader, worker.writer = await asyncio.open_unix_connection(sock=worker.sock)
        worker.reading = asyncio.create_task(self._read(worker, reader))

    async def answer(self, bundle: dict, label: str, base: str, notes: list) -> Answer:
        """The Answer of a worker for ``bundle``, in the order calls came; WorkerFailure when it failed."""
        if self._left() == 0:
            raise WorkerFailure("no evaluation worker is left: restart the service")
        call = asyncio.get_running_loop().create_future()
        payload = pickle.dumps((bundle, label, base, list(notes)), protocol=pickle.HIGHEST_PROTOCOL)
        self.waiting.append((_frame(payload), call))
        self._hand_out()
        status, value = await call
        if status != "ok":
            raise WorkerFailure(f"the evaluation worker failed: {value}")
        return value

    def _hand_out(self) -> None:
        # Idle workers first, then each gets a second call to hold in its pipe: it starts on that
        # the moment it has sent its answer, instead of waiting for this busy process to read the
        # answer and hand out more (measured: workers idled a fifth of the time under load).
        for depth in range(CALLS_HELD):
            for worker in self.workers:
                while self.waiting and worker.ready and worker.writer is not None and len(worker.calls) == depth:
                    framed, call = self.waiting.popleft()
                    if call.done():   # its request was cancelled while it waited
                        continue
                    worker.calls.append(call)
                    worker.writer.write(framed)   # a dead worker's reader finds out, and fails its calls

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        """The worker's replies, each settling the oldest call it holds, until its pipe closes."""
        why = "it stopped"
        while True:
            try:
                header = await reader.readexactly(4)
                message = await reader.readexactly(struct.unpack("!i", header)[0])
            except (asyncio.IncompleteReadError, OSError):
                break
            if not worker.ready:   # a replacement, now started (or failed to)
                worker.ready = message == _READY
                if not worker.ready:
                    why = pickle.loads(message)[1]
                    break
            elif worker.calls:
                call = worker.calls.popleft()
                if not call.done():
                    call.set_result(pickle.loads(message))
            self._hand_out()
        if not worker.ready and not self.closing:   # it never started: starting it again would fail again
            worker.gone = True
            log.error("a replacement evaluation worker did not start (%s): %d of %d workers left",
                      why, self._left(), len(self.workers))
        await self._lost(worker)

    async def _lost(self, worker: _Worker) -> None:
        """A worker whose pipe closed: fail its calls, and start another unless the server is stopping."""
        worker.writer.close()
        worker.ready = False
        while worker.calls:
            call = worker.calls.popleft()
            if not call.done():
                call.set_result(("failed", "it stopped while it held this call"))
        if self.closing or worker.gone:
            self._fail_waiting_if_none_left()
            return
        worker.process.join(0.5)
        log.error("an evaluation worker stopped (exit status %s); starting another", worker.process.exitcode)
        replacement = _Worker(self.context, self.config, self.root)
        self.workers[self.workers.index(worker)] = replacement
        await self._connect(replacement)

    def _left(self) -> int:
        return sum(1 for w in self.workers if not w.gone)

    def _fail_waiting_if_none_left(self) -> None:
        if self._left() == 0:
            while self.waiting:
                _, call = self.waiting.popleft()
                if not call.done():
                    call.set_result(("failed", "no evaluation worker is left"))

    async def close(self) -> None:
        """Stop the workers: their pipes closed, each ends; one that does not is killed."""
        self.closing = True
        for worker in self.workers:
            if worker.writer is not None:
                worker.writer.close()
        for worker in self.workers:
            if worker.reading is not None:
                await worker.reading
        await asyncio.get_running_loop().run_in_executor(None, self._stop_all)

    def _stop_all(self) -> None:
        for worker in self.workers:
            worker.sock.close()
        for worker in self.workers:
            worker.process.join(STOP_TIMEOUT_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
