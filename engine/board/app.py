"""The board's ASGI application (Starlette): routes, templates and security headers.

Pages: ``/`` the queue, ``/rules/{id}`` a rule, ``/rules/{id}/changes`` what changed since the
version last approved, ``/signin`` and ``/signout``; ``POST /rules/{id}/decide`` records a
decision. Every page needs a signed-in board member (``guard``); every post must pass the
origin and CSRF checks before anything is read from its form. Engine work runs in a worker
thread, each request on the knowledge base as it is on disk now (through the checked-KB cache).
Errors are pages with a 4xx status and one line of explanation; an unexpected failure is a
short 500 page, never a traceback.
"""
from __future__ import annotations

import logging
from pathlib import Path

import jinja2
import markupsafe

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bmdkb.engine.board import decisions, guard, pages
from bmdkb.engine.board.config import BoardConfig
from bmdkb.engine.board.sessions import LOCAL, SessionStore
from bmdkb.engine.common.errors import BmdkbError
from bmdkb.engine.kb import cache
from bmdkb.engine.review.roster import Roster

HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    # No script runs on these pages; styles come from the board itself; forms post only to it.
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
log = logging.getLogger("bmdkb.board")


class _Board:
    """The application's state: configuration, sessions, templates."""

    def __init__(self, config: BoardConfig, store: SessionStore, keys=()):
        self.config, self.store, self.keys = config, store, tuple(keys)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
        self.templates = Jinja2Templates(env=env)
        self.templates.env.filters["short"] = lambda d: (d or "")[:19] + ("…" if d and len(d) > 19 else "")
        # a long rule id may wrap after a dot or an underscore, never inside a word
        self.templates.env.filters["wrappable"] = lambda text: markupsafe.Markup(
            str(markupsafe.escape(text)).replace(".", ".<wbr>").replace("_", "_<wbr>"))

    # ---- helpers
    def kb(self):
        return cache.load(self.config.kb_root)

    def page(self, request, name: str, context: dict, caller: guard.Caller | None = None, status: int = 200):
        session = caller.session if caller else None
        kb_meta = context.get("kb_meta")
        response = self.templates.TemplateResponse(request, name, {
            "session": session, "member": context.get("member"), "kb_meta": kb_meta,
            "csrf": session.csrf if session else None, **context}, status_code=status)
        return self.finish(response, caller)

    def finish(self, response: Response, caller: guard.Caller | None) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers[key] = value
        if caller is not None and caller.set_cookie:
            response.set_cookie(self.config.cookie_name, caller.set_cookie, max_age=int(self.config.session_hours * 3600),
                                path="/", secure=self.config.secure, httponly=True, samesite="strict")
        elif caller is not None and caller.clear_cookie:
            response.delete_cookie(self.config.cookie_name, path="/", secure=self.config.secure, httponly=True,
                                   samesite="strict")
        return response

    def refuse(self, request, status: int, title: str, lines: list, caller=None) -> Response:
        return self.page(request, "refused.html", {"title": title, "lines": lines}, caller, status)

    async def caller(self, request, kb) -> guard.Caller:
        try:
            return guard.identify(request, self.config, self.store, Roster(kb.board))
        except guard.NotAMember as exc:
            raise _NotMember(str(exc)) from None

    async def form(self, request) -> dict:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
            raise HTTPException(413, "the form is too large")
        form = await request.form(max_files=0, max_fields=20)
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def member(self, kb, caller) -> dict | None:
        if caller.session is None:
            return None
        roster = Roster(kb.board)
        return roster.members.get(caller.session.member_id)

    # ---- pages
    async def signed_in(self, request: Request, names_rule: bool = False):
        """What every page of a signed-in member starts with: (kb, caller, None), or (kb, caller,
        the answer to give instead): the sign-in page when signed out, 404 for an unknown rule."""
        kb = await run_in_threadpool(self.kb)
        caller = await self.caller(request, kb)
        if caller.session is None:
            return kb, caller, self.finish(RedirectResponse("/signin", 303), caller)
        rule_id = request.path_params.get("rule_id")
        if names_rule and rule_id not in kb.rules:
            return kb, caller, self.refuse(request, 404, "No such rule",
                                           [f"{rule_id}: no rule with this id in the knowledge base"], caller)
        return kb, caller, None

    async def queue(self, request: Request):
        kb, caller, instead = await self.signed_in(request)
        if instead is not None:
            return instead
        data = await run_in_threadpool(pages.queue, kb)
        return self.page(request, "queue.html", {**data, "kb_meta": kb.meta, "member": self.member(kb, caller),
                                                 "title": "Review queue"}, caller)

    async def rule(self, request: Request, outcome: dict | None = None, refusal: list | None = None,
                   form: dict | None = None, status: int = 200):
        kb, caller, instead = await self.signed_in(request, names_rule=True)
        if instead is not None:
            return instead
        rule_id = request.path_params["rule_id"]
        data = await run_in_threadpool(pages.rule, kb, rule_id, caller.session.member_id)
        data["signing_key"] = decisions.key_for(kb.board, self.keys, caller.session.member_id)
        flash, caller.session.flash = caller.session.flash, None
        if flash and flash.get("rule") != rule_id:
            flash = None
        return self.page(request, "rule.html", {**data, "kb_meta": kb.meta, "member": self.member(kb, caller),
                                                "title": f"Rule {rule_id}", "flash": flash, "refusal": refusal,
                                                "form": form or {}}, caller, status)

    async def changes(self, request: Request):
        kb, caller, instead = await self.signed_in(request, names_rule=True)
        if instead is not None:
            return instead
        rule_id = request.path_params["rule_id"]
        data = await run_in_threadpool(pages.changes, kb, rule_id)
        return self.page(request, "changes.html", {**data, "kb_meta": kb.meta, "member": self.member(kb, caller),
                                                   "title": f"Changes to {rule_id} since approval"}, caller)

    async def decide(self, request: Request):
        kb = await run_in_threadpool(self.kb)
        caller = await self.caller(request, kb)
        form = await self.form(request)
        reason = guard.form_refusal(request, self.config, caller, form.get("csrf_token"))
        if reason:
            log.warning("refused a decision post: %s", reason)
            return self.refuse(request, 403, "Refused", [f"Refused: {reason}.", "Nothing was recorded."], caller)
        rule_id = request.path_params["rule_id"]
        try:
            outcome = await run_in_threadpool(decisions.record, self.config.kb_root, rule_id,
                                              caller.session.member_id, form, self.keys)
        except BmdkbError as exc:
            lines = [str(p) for p in exc.problems]
            if rule_id not in kb.rules:
                return self.refuse(request, 422, "Refused", lines + ["Nothing was recorded."], caller)
            return await self.rule(request, refusal=lines, form=form, status=422)
        entry, st = outcome.entry, outcome.status
        caller.session.flash = {"rule": rule_id, "entry": entry, "label": st.detail.get("label", st.status),
                                "waiting_for": st.detail.get("waiting_for"), "repairs": outcome.repairs}
        return self.finish(RedirectResponse(f"/rules/{rule_id}#outcome", 303), caller)

    # ---- signing in and out
    async def signin_page(self, request: Request):
        kb = await run_in_threadpool(self.kb)
        caller = await self.caller(request, kb)
        if caller.session is not None:
            return self.finish(RedirectResponse("/", 303), caller)
        return self.page(request, "signin.html", {"kb_meta": kb.meta, "title": "Sign in",
                                                  "code": request.query_params.get("code", ""),
                                                  "proxy": bool(self.config.trusted_header)}, caller)

    async def signin(self, request: Request):
        kb = await run_in_threadpool(self.kb)
        caller = await self.caller(request, kb)
        reason = guard.cross_site(request, self.config)
        if reason:
            return self.refuse(request, 403, "Refused", [f"Refused: {reason}."], caller)
        form = await self.form(request)
        member = self.store.redeem(form.get("code"))
        if member is None or Roster(kb.board).member_id(member) is None:
            return self.page(request, "signin.html", {"kb_meta": kb.meta, "title": "Sign in", "code": "",
                                                      "proxy": bool(self.config.trusted_header),
                                                      "error": "That sign-in code is not valid: it is mistyped, "
                                                               "was used already, or the board was restarted since "
                                                               "it was issued."}, caller, 403)
        self.store.close(request.cookies.get(self.config.cookie_name))
        sid, _session = self.store.open(member, LOCAL)
        return self.finish(RedirectResponse("/", 303), guard.Caller(None, set_cookie=sid))

    async def signout(self, request: Request):
        kb = await run_in_threadpool(self.kb)
        caller = await self.caller(request, kb)
        form = await self.form(request)
        reason = guard.form_refusal(request, self.config, caller, form.get("csrf_token"))
        if reason:
            return self.refuse(request, 403, "Refused", [f"Refused: {reason}."], caller)
        self.store.close(request.cookies.get(self.config.cookie_name))
        return self.finish(RedirectResponse("/signin", 303), guard.Caller(None, clear_cookie=True))

    async def stylesheet(self, request: Request):
        return self.finish(FileResponse(HERE / "static" / "board.css", media_type="text/css"), None)


class _NotMember(Exception):
    pass


def create_app(config: BoardConfig, store: SessionStore | None = None, keys=()) -> Starlette:
    """The board application for ``config``; ``store`` holds its sessions and sign-in codes, and
    ``keys`` the members' signing keys (``signing.Signer``) loaded on this machine: a decision is
    signed with the signed-in member's own key, and refused (as governance refuses a command line
    without --key) when the board holds none of theirs."""
    board = _Board(config, store or SessionStore(config.session_hours), keys)

    async def not_member(request, exc):
        return board.refuse(request, 403, "Not a board member",
                            [f"The organisation's sign-on names {exc}, who is not a member of the editorial board "
                             "(knowledge/board.yaml)."])

    async def http_error(request, exc):
        titles = {404: "Not found", 405: "Method not allowed", 413: "Too large", 400: "Bad request"}
        return board.refuse(request, exc.status_code, titles.get(exc.status_code, "Refused"),
                            [exc.detail or titles.get(exc.status_code, "The request was refused.")])

    async def kb_error(request, exc):
        return board.refuse(request, 503, "The knowledge base does not load", [str(p) for p in exc.problems])

    async def defect(request, exc):
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        return board.refuse(request, 500, "Internal error",
                            [f"bmdkb: internal error: {type(exc).__name__}. This is a defect of bmdkb; nothing "
                             "was recorded unless the rule page says so."])

    routes = [
        Route("/", board.queue, methods=["GET"]),
        Route("/signin", board.signin_page, methods=["GET"]),
        Route("/signin", board.signin, methods=["POST"]),
        Route("/signout", board.signout, methods=["POST"]),
        Route("/static/board.css", board.stylesheet, methods=["GET"]),
        Route("/rules/{rule_id}/changes", board.changes, methods=["GET"]),
        Route("/rules/{rule_id}/decide", board.decide, methods=["POST"]),
        Route("/rules/{rule_id}", board.rule, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=config.allowed_hosts)],
                    exception_handlers={_NotMember: not_member, HTTPException: http_error, BmdkbError: kb_error,
                                        Exception: defect})
    app.state.board = board
    return app
