"""Running the service: the knowledge base loaded and compiled once, the log set up, uvicorn started.

The log goes to stderr, one line per event, and never holds patient data (app.py logs calls by
their hookInstance). ``--allow-unsigned`` is announced in a banner at start and again on every
request it lets in without a token.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import sys
from dataclasses import replace

import uvicorn

from bmdkb.engine import api
from bmdkb.service.app import Service, create_app
from bmdkb.service.pool import EvaluationPool, WorkerFailure

log = logging.getLogger("bmdkb.service")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UNSIGNED_BANNER = (
    "*" * 78,
    "--allow-unsigned: requests WITHOUT a JWT are ACCEPTED. Anyone who can reach this port",
    "gets answers and can post feedback. For local development only: never in production.",
    "*" * 78,
)


class WorkersDidNotStart(api.BmdkbError):
    """The evaluation workers could not start although the knowledge base loaded here: a defect (exit 1)."""

    exit_code = 1


class _Server(uvicorn.Server):
    """uvicorn's server, but a stop by SIGINT or SIGTERM (after the graceful shutdown) ends the
    command with exit status 0: uvicorn re-raises the signal afterwards, which would end `bmdkb
    serve` as killed by it (or, for Ctrl-C, as click's "Aborted!")."""

    @contextlib.contextmanager
    def capture_signals(self):
        """uvicorn's signal handling, without the signal raised again at the end."""
        with super().capture_signals():
            yield
            self._captured_signals = []


def setup_logging() -> None:
    """One handler on stderr for the service's log and uvicorn's (no access log: it would log URLs)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore"):   # they log every URL fetched, and a FHIR query names the patient
        logging.getLogger(chatty).setLevel(logging.WARNING)


def build(config, root):
    """The ASGI application for ``config`` over the knowledge base at ``root`` (loaded, checked
    and compiled here, once, or by each of ``config.workers`` evaluation workers when more than
    one); BmdkbError (exit 2) for a bad knowledge base, facility or setting."""
    kb = api.load_checked_kb(root)
    if config.facility_file is not None:
        config = replace(config, facility=api.read_facility(kb, config.facility_file))
    if config.workers == 1:
        service = Service(config, kb, api.Evaluator(kb))
    else:
        try:
            pool = EvaluationPool(config, str(root), config.workers)
        except WorkerFailure as exc:
            raise WorkersDidNotStart(api.Problem("bmdkb serve", "--workers", str(exc))) from None
        service = Service(config, kb, pool=pool)
    service.warm_up()
    gc.collect()
    gc.freeze()   # the knowledge base and compiled rules live as long as the process: keep them out of GC scans
    return create_app(service), service


def run(config, root) -> None:
    """Serve until interrupted (uvicorn handles SIGINT and SIGTERM, finishing requests in flight)."""
    setup_logging()
    app, service = build(config, root)
    kb = service.kb
    log.info("serving knowledge base %s release %s (%s) in %s mode: service %r, %d card groups, %s",
             kb.meta["name"], kb.release, kb.digest[:19], config.mode, service.id, len(service.groups),
             "evaluating in this process" if config.workers == 1 else f"{config.workers} evaluation workers")
    log.info("trusted issuers: %s", ", ".join(sorted(config.issuers)) or "none")
    if config.allow_unsigned:
        for line in UNSIGNED_BANNER:
            log.warning(line)
    _Server(uvicorn.Config(app, host=config.host, port=config.port, log_config=None, access_log=False,
                           server_header=False, proxy_headers=False, lifespan="on",
                           timeout_graceful_shutdown=5)).run()
