"""Who a request comes from, and whether a form post may act.

Identity, in order: the organisation's sign-on header (only when the board is configured with
one, and only on a request that proves it came through the proxy: its shared secret, compared in
constant time, or a peer address on the allowlist; the header is otherwise ignored), else the
session cookie set by a local sign-in. The member is always a roster member id, resolved by
``roster.Roster``; a name that is not on the roster is refused, never recorded.

A form post acts only when it is same-origin (``Sec-Fetch-Site`` when the browser sends it; the
``Origin`` header, else the ``Referer``, must be the board's own origin; a post with neither is
refused) and carries the session's CSRF token. The cookie is also ``SameSite=Strict`` and
``HttpOnly``: three independent defences, any one of which stops a forged cross-site post.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from bmdkb.engine.board.config import SECRET_HEADER, BoardConfig
from bmdkb.engine.board.sessions import LOCAL, PROXY, Session, SessionStore


class NotAMember(Exception):
    """The proxy vouched for someone the roster does not list: the request is refused (403)."""


@dataclass
class Caller:
    """The signed-in member of a request: session (None when signed out) and a cookie to set."""

    session: Session | None
    set_cookie: str | None = None        # a new session id to send back
    clear_cookie: bool = False


def _vouched(request, config: BoardConfig) -> bool:
    """The request came through the organisation's proxy: shared secret or allowlisted address."""
    if config.proxy_secret:
        given = request.headers.get(SECRET_HEADER, "")
        if given and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), config.proxy_secret.encode("utf-8")):
            return True
    peer = request.client.host if request.client else None
    return peer is not None and peer in config.trusted_proxies


def proxy_name(request, config: BoardConfig) -> str | None:
    """The name the trusted sign-on header gives, or None (no header configured, none sent, or
    the request did not come through the proxy)."""
    if not config.trusted_header:
        return None
    value = request.headers.get(config.trusted_header)
    if not value or not _vouched(request, config):
        return None
    return value


def identify(request, config: BoardConfig, store: SessionStore, roster) -> Caller:
    """The member behind ``request`` (see the module docstring); NotAMember when the proxy names
    someone who is not on the board."""
    sid = request.cookies.get(config.cookie_name)
    session = store.get(sid)
    name = proxy_name(request, config)
    if name is not None:
        member = roster.member_id(name)
        if member is None:
            raise NotAMember(name)
        if session is not None and session.member_id == member and session.via == PROXY:
            return Caller(session)
        store.close(sid)
        new_sid, session = store.open(member, PROXY)
        return Caller(session, set_cookie=new_sid)
    if session is not None and session.via == PROXY:   # the proxy vouches on every request, or not at all
        store.close(sid)
        return Caller(None, clear_cookie=True)
    if session is not None and session.via == LOCAL and roster.member_id(session.member_id) is None:
        store.close(sid)                               # taken off the roster since signing in
        return Caller(None, clear_cookie=True)
    return Caller(session, clear_cookie=sid is not None and session is None)


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(request, config: BoardConfig) -> str | None:
    """Why a state-changing request is not same-origin, or None when it is."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"the form was posted from another site (Sec-Fetch-Site: {fetch_site})"
    origin = request.headers.get("origin")
    if origin is not None:
        if origin.lower() not in config.origins:
            return f"the form was posted from another origin ({origin}), not {config.origin}"
        return None
    referer = request.headers.get("referer")
    if referer is None:
        return "the form post carries neither an Origin nor a Referer header, so its origin cannot be checked"
    if _origin_of(referer) not in config.origins:
        return f"the form was posted from another origin ({_origin_of(referer) or referer}), not {config.origin}"
    return None


def form_refusal(request, config: BoardConfig, caller: Caller, token: str | None) -> str | None:
    """Why a form post must not act (cross-site, signed out, missing or wrong CSRF token), or None."""
    reason = cross_site(request, config)
    if reason:
        return reason
    if caller.session is None:
        return "you are not signed in (or your session ended); sign in and try again"
    if not caller.session.csrf_matches(token):
        return "the form's security token is missing or does not match your session; reload the page and try again"
    return None
