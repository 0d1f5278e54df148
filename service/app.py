"""The CDS Hooks 2.0.1 service as an ASGI application (Starlette): routes, limits and error answers.

- ``GET /cds-services``: discovery, one ``patient-view`` service with its prefetch templates.
- ``POST /cds-services/{id}``: the hook call: the client's JWT (auth.py), the body checked, the
  data gathered (fhir.py), the Bundle evaluated through engine/api.py, the cards (cards.py).
- ``POST /cds-services/{id}/feedback``: outcomes stored append-only (feedback.py).
- ``GET /sources/{source}`` and ``/sources/{source}/passages/{id}``: the registered source text,
  a cited passage highlighted (pages.py); ``GET /override-reasons``: the codes cards offer.

Every answer that is not a card list or a page is JSON. A malformed request gets 400 naming what
is wrong, a body over the limit 413, a missing or bad token 401, missing data 412; an unexpected
failure is logged (its kind and place, never its message, which could hold patient data) and
answered 500 with a short JSON message, never a traceback. The log names the call (hookInstance,
status, time, which prefetch keys were sent or fetched), never a patient.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bmdkb.cli.render import escape
from bmdkb.engine import api
from bmdkb.service import auth, cards, fhir, pages
from bmdkb.service.answering import Answer, Answerer
from bmdkb.service.pool import failure_place
from bmdkb.service.config import card_groups
from bmdkb.service.feedback import FeedbackError, FeedbackStore, parse as parse_feedback

log = logging.getLogger("bmdkb.service")
HOOK = "patient-view"
FAILED = "the service failed on this request; the failure is logged (no patient data)"
_BASE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


class Refusal(Exception):
    """A request answered with ``status`` and a JSON message (never a trace)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str) -> JSONResponse:
    """The JSON answer for a refused request."""
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


class Service:
    """One knowledge base served: what every request needs, built once at start.

    Calls are evaluated here by ``evaluator`` or, with ``pool`` (pool.EvaluationPool, ``--workers
    N``), by its worker processes; either way by an answering.Answerer."""

    def __init__(self, config, kb, evaluator=None, pool=None):
        self.config = config
        self.kb = kb
        self.pool = pool
        self.answerer = Answerer(config, kb, evaluator) if pool is None else None
        self.id = kb.meta["name"]
        binding = api.fhir_binding(kb)
        if binding is None:
            raise api.BmdkbError(api.Problem(str(kb.root), "knowledge/fhir", "the knowledge base has no FHIR "
                                             "binding: the service cannot ask for DXA Observations"))
        self.keys = fhir.prefetch_keys(binding.loinc_codes)
        self.dxa_codes = fhir.dxa_codes(binding)
        self.groups = card_groups(config, kb.stages)   # checked here, at start, with workers too
        self.passages = pages.passages(kb)
        self.store = FeedbackStore(config.feedback_store)
        self.http: httpx.AsyncClient | None = None
        self.client: fhir.FhirClient | None = None
        self.verifier = auth.Verifier(config, self.fetch)

    async def start(self) -> None:
        """Open the outgoing HTTP client (FHIR servers, key sets); put the evaluation workers on the loop."""
        self.http = httpx.AsyncClient(timeout=self.config.fhir_timeout_seconds, follow_redirects=False,
                                      limits=httpx.Limits(max_connections=50))
        self.client = fhir.FhirClient(self.http, self.config.max_fhir_response_bytes, self.config.fhir_servers)
        if self.pool is not None:
            await self.pool.attach()

    async def stop(self) -> None:
        """Close the outgoing HTTP client and stop the evaluation workers."""
        if self.http is not None:
            await self.http.aclose()
        if self.pool is not None:
            await self.pool.close()

    def warm_up(self) -> None:
        """Load the FHIR models before the first call (the pool's workers warm up themselves)."""
        if self.answerer is not None:
            self.answerer.warm_up()

    async def answer(self, bundle: dict, label: str, base: str, notes: list) -> Answer:
        """The cards for a gathered Bundle, from a worker process when there is a pool."""
        if self.pool is not None:
            return await self.pool.answer(bundle, label, base, notes)
        return self.answerer.answer(bundle, label, base, notes)

    async def fetch(self, url: str, limit: int) -> bytes:
        """The bytes at ``url`` (a key set), at most ``limit``."""
        return await self.client.read(url, None, limit)

    def discovery(self) -> dict:
        """The discovery document."""
        return {"services": [{
            "hook": HOOK,
            "id": self.id,
            "title": self.kb.meta["title"],
            "description": ("Interprets a patient's serial DXA results (lumbar spine, total hip, femoral neck): "
                            "the pattern of change, possible explanations, checks, treatment considerations and "
                            "follow-up, each citing its source passage."
                            + (" Approved content only." if self.config.approved_only else
                               " Preview: content not yet approved by the editorial board is shown with a caution.")),
            "prefetch": fhir.templates(self.keys),
            "usageRequirements": ("Needs the Patient and the DXA Observations (prefetched, or readable at fhirServer); "
                                  "reads medications and conditions when available. The facility's least "
                                  "significant change comes from the service's --facility file."),
        }]}

    def base(self, request: Request) -> str:
        """The service's public address: the configured one, else the one the request was sent to."""
        if self.config.public_url:
            return self.config.public_url
        host = request.headers.get("host", "")
        base = f"{request.url.scheme}://{host}"
        if not _BASE.match(base):
            raise Refusal(400, "the Host header is not a host name")
        return base

    async def authenticate(self, request: Request) -> None:
        """Verify the request's JWT for the URL called; Refusal(401) when it fails."""
        header = request.headers.get("authorization")
        if header is None:
            if self.config.allow_unsigned:
                log.warning("accepted a request without a JWT (--allow-unsigned: never in production)")
                return
            raise Refusal(401, "no Authorization header: a CDS client must send its JWT as a bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal(401, "the Authorization header must be `Bearer <JWT>`")
        audience = self.base(request) + request.url.path
        try:
            await self.verifier.verify(token.strip(), audience)
        except auth.AuthError as exc:
            raise Refusal(401, str(exc)) from None


async def read_json(request: Request, limit: int):
    """The request body as JSON, at most ``limit`` bytes; Refusal(413/415/400) otherwise."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Refusal(413, f"the request body is larger than {limit} bytes (the limit)")
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind and not (kind == "application/json" or kind.endswith("+json")):
        raise Refusal(415, "the request body must be JSON (Content-Type: application/json)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refusal(413, f"the request body is larger than {limit} bytes (the limit)")
    if not body:
        raise Refusal(400, "the request has no body: a JSON object was expected")
    try:
        return json.loads(bytes(body), parse_constant=_no_constant)
    except RecursionError:
        raise Refusal(400, "the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise Refusal(400, f"the body is not valid JSON: {str(exc)[:120]}") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _string(value, where: str, required: bool = True):
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Refusal(400, f"{where} must be a non-empty string")
    return value


def check_hook_request(body) -> dict:
    """The parts of a hook call the service uses, checked (CDS Hooks 2.0.1); Refusal(400) naming
    the field otherwise. Fields the service does not use (extension, a 3.0 ``version``...) are let be."""
    if not isinstance(body, dict):
        raise Refusal(400, "the body must be a JSON object")
    hook = _string(body.get("hook"), "hook")
    if hook != HOOK:
        raise Refusal(400, f"this service answers the {HOOK} hook, not {hook[:40]!r}")
    _string(body.get("hookInstance"), "hookInstance")
    context = body.get("context")
    if not isinstance(context, dict):
        raise Refusal(400, "context must be an object")
    patient = _string(context.get("patientId"), "context.patientId")
    if not fhir.FHIR_ID.match(patient):
        raise Refusal(400, "context.patientId must be a FHIR id (letters, digits, '-' and '.', at most 64)")
    _string(context.get("userId"), "context.userId", required=False)
    server = _string(body.get("fhirServer"), "fhirServer", required=False)
    if server is not None and (urlsplit(server).scheme not in ("http", "https") or not urlsplit(server).netloc):
        raise Refusal(400, "fhirServer must be an http(s) URL")
    token = None
    authorization = body.get("fhirAuthorization")
    if authorization is not None:
        if not isinstance(authorization, dict):
            raise Refusal(400, "fhirAuthorization must be an object")
        if server is None:
            raise Refusal(400, "fhirAuthorization is given without a fhirServer")
        token = _string(authorization.get("access_token"), "fhirAuthorization.access_token")
        if str(authorization.get("token_type", "")).lower() != "bearer":
            raise Refusal(400, "fhirAuthorization.token_type must be Bearer")
        for key in ("scope", "subject"):
            _string(authorization.get(key), f"fhirAuthorization.{key}")
        if not isinstance(authorization.get("expires_in"), (int, float)) or isinstance(authorization["expires_in"], bool):
            raise Refusal(400, "fhirAuthorization.expires_in must be a number of seconds")
    prefetch = body.get("prefetch", {})
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise Refusal(400, "prefetch must be an object")
    return {"hookInstance": body["hookInstance"], "patientId": patient, "fhirServer": server,
            "token": token, "prefetch": prefetch}


class ContainFailures:
    """ASGI middleware: an unexpected failure is answered 500 with a short JSON message and logged
    by its kind and place only. Starlette's own handler for it re-raises after answering (so that
    servers can log it), and uvicorn would then print the traceback with the exception's message,
    which can quote patient data; here it stops."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        """Run the application; contain what it raises."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answered = False

        async def sending(message):
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            log.error("%s %s failed: %s", scope.get("method", ""), escape.text(str(scope.get("path", ""))[:80]),
                      failure_place(exc))
            if not answered:
                await error(500, FAILED)(scope, receive, send)


def create_app(service: Service) -> Starlette:
    """The ASGI application serving ``service``."""

    async def discovery(request: Request):
        return JSONResponse(service.discovery())

    def _service(request: Request) -> None:
        if request.path_params["service_id"] != service.id:
            raise Refusal(404, f"no CDS service {request.path_params['service_id'][:60]!r} here "
                          f"(GET /cds-services lists them)")

    async def call(request: Request):
        started = time.perf_counter()
        _service(request)
        await service.authenticate(request)
        hook = check_hook_request(await read_json(request, service.config.max_request_bytes))
        checked = time.perf_counter()
        try:
            gathered = await fhir.gather(service.keys, hook["patientId"], hook["prefetch"], hook["fhirServer"],
                                         hook["token"], service.client)
        except fhir.Unavailable as exc:
            raise Refusal(412, f"the data this service needs is not available: {exc}") from None
        except (fhir.WrongPatient, fhir.BadPrefetch) as exc:
            raise Refusal(400, str(exc)) from None
        base = service.base(request)
        gathered_at = time.perf_counter()
        if not fhir.has_dxa(gathered.bundle, service.dxa_codes):
            answered = Answerer.EMPTY
        else:
            notes = [f"Not available, so treated as unknown: {', '.join(k.label for k in service.keys if k.key in gathered.missing)}."] \
                if gathered.missing else []
            answered = await service.answer(gathered.bundle, f"hook {hook['hookInstance']}", base, notes)
        service.store.note_cards(answered.infos)
        answer = Response(answered.body, media_type="application/json")
        done = time.perf_counter()
        # Server-Timing (W3C): where the service's time went, for the benchmark and for operators;
        # "evaluate" and "cards" as the evaluating process measured them, "wait" what else the call
        # waited between gathering and its answer (for a worker process and the data's trip there)
        waited = done - gathered_at - answered.evaluate_seconds - answered.cards_seconds
        answer.headers["Server-Timing"] = ", ".join(f"{name};dur={ms * 1000:.2f}" for name, ms in (
            ("check", checked - started), ("gather", gathered_at - checked), ("evaluate", answered.evaluate_seconds),
            ("cards", answered.cards_seconds), ("wait", max(waited, 0.0)), ("total", done - started)))
        log.info("hook %s hookInstance=%s cards=%d prefetched=%s fetched=%s missing=%s %.1f ms", HOOK,
                 escape.text(hook["hookInstance"][:64]), answered.cards, ",".join(gathered.prefetched) or "-",
                 ",".join(gathered.fetched) or "-", ",".join(gathered.missing) or "-",
                 (done - started) * 1000)
        return answer

    async def feedback(request: Request):
        _service(request)
        await service.authenticate(request)
        body = await read_json(request, service.config.max_request_bytes)
        try:
            records = parse_feedback(body, service.id)
        except FeedbackError as exc:
            raise Refusal(400, str(exc)) from None
        service.store.append(records)
        log.info("feedback stored: %d outcomes", len(records))
        return JSONResponse({"stored": len(records)})

    def _page(source_id: str, passage=None):
        if source_id not in service.kb.sources:
            raise Refusal(404, "no registered source of that name")
        page = pages.source_page(service.kb, source_id, passage)
        return HTMLResponse(page, headers={"Content-Security-Policy": pages.CSP, "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer", "Cache-Control": "public, max-age=3600"})

    async def source(request: Request):
        return _page(request.path_params["source_id"])

    async def passage(request: Request):
        source_id = request.path_params["source_id"]
        found = service.passages.get((source_id, request.path_params["passage_id"]))
        if found is None:
            if source_id not in service.kb.sources:
                raise Refusal(404, "no registered source of that name")
            raise Refusal(404, "the knowledge base cites no passage of that name in this source")
        return _page(source_id, found)

    async def override_reasons(request: Request):
        return JSONResponse({"overrideReasons": cards.override_reasons(f"{service.base(request)}/override-reasons")})

    async def refused(request: Request, exc: Refusal):
        log.info("%s %s refused %d: %s", request.method, escape.text(request.url.path[:80]), exc.status,
                 escape.text(exc.message[:200]))
        return error(exc.status, exc.message)

    async def http_error(request: Request, exc: HTTPException):
        message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return error(exc.status_code, message)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    middleware = [Middleware(ContainFailures)]
    if service.config.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(service.config.cors_origins),
                                     allow_methods=["GET", "POST", "OPTIONS"],
                                     allow_headers=["Authorization", "Content-Type"], max_age=600))
    routes = [
        Route("/cds-services", discovery, methods=["GET"]),
        Route("/cds-services/{service_id}", call, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
        Route("/sources/{source_id}", source, methods=["GET"]),
        Route("/sources/{source_id}/passages/{passage_id}", passage, methods=["GET"]),
        Route("/override-reasons", override_reasons, methods=["GET"]),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={Refusal: refused, HTTPException: http_error})

