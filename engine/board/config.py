"""What the operator of `bmdkb board` configured: the knowledge base, how members sign in, and
the origin the pages are served from (the only origin a form may be posted from)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bmdkb.engine.common.errors import BmdkbError, Problem

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SECRET_HEADER = "x-bmdkb-proxy-secret"


class BoardConfigError(BmdkbError):
    """A `bmdkb board` configuration that would be unsafe or cannot work (exit 2)."""


@dataclass(frozen=True)
class BoardConfig:
    """How the board server runs.

    ``trusted_header`` (e.g. ``X-Remote-User``) is honoured only when set, and then only on a
    request that carries the proxy's shared secret in ``X-Bmdkb-Proxy-Secret`` or comes from an
    address in ``trusted_proxies``. ``public_url`` is where members reach the pages (the proxy's
    address in deployment); without it the pages are local, on ``host:port``."""

    kb_root: Path
    host: str = "127.0.0.1"
    port: int = 8765
    public_url: str | None = None
    trusted_header: str | None = None
    proxy_secret: str | None = None
    trusted_proxies: frozenset = field(default_factory=frozenset)
    session_hours: float = 12.0

    def __post_init__(self):
        if self.trusted_header and not (self.proxy_secret or self.trusted_proxies):
            raise BoardConfigError(Problem("--trusted-header", "", "a sign-on header is honoured only from the "
                                           "organisation's proxy: give --proxy-secret-file or --trusted-proxy"))
        if self.host not in LOCAL_HOSTS and not self.trusted_header:
            raise BoardConfigError(Problem("--host", "", f"{self.host}: without a trusted sign-on proxy "
                                           "(--trusted-header) the board listens on this machine only "
                                           "(127.0.0.1 or localhost)"))
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise BoardConfigError(Problem("--public-url", "", f"{self.public_url!r} is not an http(s) URL"))

    @property
    def origin(self) -> str:
        """The one origin the pages are served from (scheme://host[:port])."""
        if self.public_url:
            parts = urlsplit(self.public_url)
            return f"{parts.scheme}://{parts.netloc}".lower()
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def origins(self) -> frozenset:
        """Origins a form may be posted from: the served origin, and for a local board its other
        spellings of this machine (localhost, 127.0.0.1)."""
        if self.public_url:
            return frozenset({self.origin})
        return frozenset({f"http://{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]")} | {self.origin})

    @property
    def allowed_hosts(self) -> list:
        """Host header values accepted (a guard against DNS rebinding onto a local board)."""
        if self.public_url:
            return [urlsplit(self.public_url).hostname]
        return sorted({*LOCAL_HOSTS, self.host})

    @property
    def secure(self) -> bool:
        """Whether cookies are marked Secure (the pages are served over https)."""
        return self.origin.startswith("https://")

    @property
    def cookie_name(self) -> str:
        """The session cookie's name; ``__Host-`` (no Domain, path /, Secure) when served over https."""
        return "__Host-bmdkb-board" if self.secure else "bmdkb-board"
