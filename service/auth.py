"""The CDS client's JWT, checked as CDS Hooks 2.0.1 requires, with PyJWT doing the cryptography.

A request is accepted when its bearer token is a JWT signed with ES384 or RS384 (nothing else: no
``none``, no HMAC with a public key as secret), by a key of an issuer on the allowlist (its key
set from the settings, from its ``jwks_url``, or from the ``jku`` the token names when that URL
is one the settings allow for the issuer), and its claims hold: ``aud`` is exactly the URL that
was called, ``exp`` not passed, ``iat`` not in the future, the token lives no longer than the
configured maximum, and its ``jti`` was never seen before from that issuer (the replay cache
keeps each ``jti`` until its token expires, so it stays bounded).
"""
from __future__ import annotations

import heapq
import json
import time

import jwt

ALGORITHMS = ("ES384", "RS384")
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
JWKS_TTL_SECONDS = 300
MAX_JWKS_BYTES = 64 * 1024
MAX_REPLAY_ENTRIES = 200_000


class AuthError(Exception):
    """A request whose token does not verify: answered 401 with this message (which names no
    token content beyond the claim that failed)."""


class ReplayCache:
    """The ``jti`` values already accepted, each kept until its token's expiry (plus leeway)."""

    def __init__(self, limit: int = MAX_REPLAY_ENTRIES):
        self.limit = limit
        self.expiry: dict = {}
        self.heap: list = []

    def _prune(self, now: float) -> None:
        while self.heap and self.heap[0][0] < now:
            expires, key = heapq.heappop(self.heap)
            if self.expiry.get(key) == expires:
                del self.expiry[key]

    def admit(self, key: tuple, expires: float, now: float) -> None:
        """Record ``key``; AuthError when it was seen before (or the cache is full of live tokens)."""
        self._prune(now)
        if key in self.expiry:
            raise AuthError("the token's jti was already used: a replayed request is refused")
        if len(self.expiry) >= self.limit:
            raise AuthError("too many live tokens to track replays; retry shortly")
        self.expiry[key] = expires
        heapq.heappush(self.heap, (expires, key))


class Verifier:
    """Checks bearer tokens against the trusted issuers of the settings.

    ``fetch(url)`` is an async callable returning the bytes at ``url`` (the service's HTTP
    client); key sets fetched from a URL are kept for JWKS_TTL_SECONDS."""

    def __init__(self, config, fetch):
        self.issuers = config.issuers
        self.leeway = config.jwt_leeway_seconds
        self.max_lifetime = config.max_token_lifetime_seconds
        self.fetch = fetch
        self.replays = ReplayCache()
        self.fetched: dict = {}   # url -> (time fetched, PyJWKSet)
        self.static = {iss: self._key_set(i.jwks, f"the key set of {iss}")
                       for iss, i in self.issuers.items() if i.jwks is not None}

    @staticmethod
    def _key_set(data, what: str) -> jwt.PyJWKSet:
        try:
            return jwt.PyJWKSet.from_dict(data)
        except (jwt.PyJWKSetError, jwt.InvalidKeyError, KeyError, TypeError, ValueError) as exc:
            raise AuthError(f"{what} holds no usable key: {exc}") from None

    async def _remote(self, url: str) -> jwt.PyJWKSet:
        cached = self.fetched.get(url)
        if cached and time.monotonic() - cached[0] < JWKS_TTL_SECONDS:
            return cached[1]
        try:
            body = await self.fetch(url, MAX_JWKS_BYTES)
            data = json.loads(body)
        except Exception:   # unreachable, too large, not JSON: the token cannot be checked
            raise AuthError(f"the key set at {url} could not be fetched") from None
        keys = self._key_set(data, f"the key set at {url}")
        self.fetched[url] = (time.monotonic(), keys)
        return keys

    async def _keys(self, header: dict, issuer) -> jwt.PyJWKSet:
        jku = header.get("jku")
        if jku is not None:
            if not isinstance(jku, str) or jku.rstrip("/") not in issuer.jku:
                raise AuthError("the token's jku is not a key-set URL allowed for its issuer")
            return await self._remote(jku)
        if issuer.iss in self.static:
            return self.static[issuer.iss]
        if issuer.jwks_url:
            return await self._remote(issuer.jwks_url)
        raise AuthError("the token names no jku and its issuer has no key set configured")

    @staticmethod
    def _key(keys: jwt.PyJWKSet, header: dict):
        kid = header.get("kid")
        if kid is None:
            if len(keys.keys) != 1:
                raise AuthError("the token names no key (kid) and its issuer has several")
            key = keys.keys[0]
        else:
            key = next((k for k in keys.keys if k.key_id == kid), None)
            if key is None:
                raise AuthError("the token's kid is not in its issuer's key set")
        if key.algorithm_name and key.algorithm_name != header["alg"]:
            raise AuthError("the token's algorithm is not the one its key is for")
        return key

    async def verify(self, token: str, audience: str, now: float | None = None) -> dict:
        """The verified claims of ``token`` for a call of ``audience``; AuthError when it fails."""
        now = time.time() if now is None else now
        try:
            unchecked = jwt.decode_complete(token, options={"verify_signature": False})   # one parse for both
        except jwt.PyJWTError:
            raise AuthError("the bearer token is not a JWT") from None
        header, unverified = unchecked["header"], unchecked["payload"]
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"the token is signed with {str(alg)[:20]!r}; only ES384 and RS384 are accepted")
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("the token's issuer (iss) is not on the allowlist")
        key = self._key(await self._keys(header, issuer), header)
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=iss,
                                leeway=self.leeway,
                                options={"require": REQUIRED_CLAIMS, "strict_aud": True, "verify_iat": True})
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired (exp)") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"the token's audience (aud) is not {audience}") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("the token is issued in the future (iat)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"the token has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the token does not verify: {type(exc).__name__}") from None
        if not isinstance(claims["iat"], (int, float)) or claims["iat"] > now + self.leeway:
            raise AuthError("the token is issued in the future (iat)")
        if claims["exp"] - claims["iat"] > self.max_lifetime:
            raise AuthError(f"the token lives longer than {self.max_lifetime} s (exp - iat)")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise AuthError("the token's jti is not a string")
        self.replays.admit((iss, claims["jti"]), claims["exp"] + self.leeway, now)
        return claims
