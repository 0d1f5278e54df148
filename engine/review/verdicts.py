"""The review ledger's verdict, kept on disk, so a cold `evaluate` does not check every hash and
signature of a ledger it checked before (engine/kb/cache.py does the same for the knowledge base).

The key is a digest of everything the verdict depends on: the ledger file's bytes, the roster
log's bytes (the rosters whose keys the signatures are checked against), where the ledger is, and
the verifier itself (the source of the modules that check, the schemas they apply, and the
`cryptography` version). Only a ledger that passed is stored; a broken one is checked again each
time and reported as before. The bytes hashed are the bytes parsed, so a ledger written between
the two can never be paired with an older verdict.

Same folder and switches as the knowledge-base cache (``$BMDKB_CACHE_DIR``, ``BMDKB_NO_CACHE=1``).
"""
from __future__ import annotations

import functools
import hashlib
import os
import importlib.util
from pathlib import Path

from bmdkb.engine.kb import cache
from bmdkb.engine.kb.knowledge_base import PACKAGE_ROOT
from bmdkb.engine.review import ledger, roster, rosterlog, signing

_SCHEMAS = ("ledger-entry", "roster-log-entry", "board")


@functools.lru_cache(maxsize=1)
def verifier() -> bytes:
    """Digest of the code and schemas that decide a ledger's verdict."""
    digest = hashlib.sha256(_installed("cryptography"))
    for module in (ledger, rosterlog, signing, roster):
        digest.update(Path(module.__file__).read_bytes())
    for name in _SCHEMAS:
        digest.update((PACKAGE_ROOT / "schemas" / f"{name}.schema.json").read_bytes())
    return digest.digest()


def _installed(package: str) -> bytes:
    """Which installed copy of ``package`` verifies signatures (its path, size and time), read without
    importing it or importlib.metadata (each costs a cold start more than the cache saves)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return b"absent"
    info = os.stat(spec.origin)
    return f"{spec.origin}|{info.st_size}|{info.st_mtime_ns}".encode()


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def key(path: Path, data: bytes | None, roster_data: bytes | None) -> str:
    """The cache key of a verdict on ledger bytes ``data`` with roster-log bytes ``roster_data``."""
    digest = hashlib.sha256(verifier())
    digest.update(str(Path(path).resolve()).encode() + b"\0")
    for part in (data, roster_data):
        digest.update(b"-" if part is None else hashlib.sha256(part).digest())
    return digest.hexdigest()


def reading(path, display: str = ledger.LEDGER_FILE) -> ledger.Reading:
    """``ledger.read(path)``, from the cache when the ledger and the roster log are byte-identical to
    ones that verified before."""
    path = Path(path)
    data, roster_data = _bytes(path), _bytes(ledger.roster_path(path))
    folder = cache.cache_dir()
    store = folder / f"ledger-{key(path, data, roster_data)}.pickle" if folder is not None else None
    if store is not None:
        found = cache.fetch(store, ledger.Reading)
        if found is not None and found.display == display:
            return found
    result = ledger.parse(data, path, display, rosterlog.parse(roster_data))
    if store is not None and result.ok:
        cache.keep(folder, store, result)
    return result


def remember(path, result: ledger.Reading) -> None:
    """Store the verdict ``result`` on the ledger at ``path`` as it now is: called by the writer, under
    the ledger's lock, right after appending entries it chained and signed itself onto a verified
    ledger (so the next decision or evaluation need not check them again)."""
    folder = cache.cache_dir()
    if folder is None or not result.ok:
        return
    path = Path(path)
    cache.keep(folder, folder / f"ledger-{key(path, _bytes(path), _bytes(ledger.roster_path(path)))}.pickle", result)
