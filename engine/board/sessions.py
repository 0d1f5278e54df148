"""Signed-in sessions, one-time sign-in codes and the CSRF token of each session.

Everything is held in the server's memory and nothing of it in the knowledge base: a restart
signs everyone out and voids unused codes. A session id and a code are 256-bit random tokens
(``secrets``); codes and session ids are looked up by their SHA-256, so no comparison of a
secret leaks its prefix through timing, and a code works once.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

LOCAL = "local sign-in"
PROXY = "organisation sign-on"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Session:
    """One signed-in member: who, how they signed in, the form token, and a message to show once."""

    member_id: str
    via: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=time.time)
    flash: dict | None = None

    def csrf_matches(self, token: str | None) -> bool:
        """Whether a posted form token is this session's (compared in constant time)."""
        return bool(token) and hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                                   self.csrf.encode("utf-8"))


class SessionStore:
    """Sessions by id, expiring ``hours`` after sign-in, and the one-time sign-in codes."""

    def __init__(self, hours: float = 12.0):
        self.lifetime = hours * 3600
        self._sessions: dict[str, Session] = {}
        self._codes: dict[str, str] = {}
        self._lock = threading.Lock()

    # ---- sessions
    def open(self, member_id: str, via: str) -> tuple[str, Session]:
        """A new session for ``member_id``: (the id to set in the cookie, the session)."""
        sid = secrets.token_urlsafe(32)
        session = Session(member_id, via)
        with self._lock:
            self._sessions[_digest(sid)] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session with id ``sid``, or None (unknown or expired)."""
        if not sid:
            return None
        key = _digest(sid)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and time.time() - session.created > self.lifetime:
                del self._sessions[key]
                session = None
        return session

    def close(self, sid: str | None) -> None:
        """End the session ``sid`` (signing out)."""
        if sid:
            with self._lock:
                self._sessions.pop(_digest(sid), None)

    # ---- one-time sign-in codes
    def issue_code(self, member_id: str) -> str:
        """A new one-time sign-in code for ``member_id``."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[_digest(code)] = member_id
        return code

    def redeem(self, code: str | None) -> str | None:
        """The member a sign-in code was issued to, once; None for an unknown or used code."""
        if not code:
            return None
        with self._lock:
            return self._codes.pop(_digest(code.strip()), None)
