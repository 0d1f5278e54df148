"""A checked knowledge base kept on disk, so a cold process need not re-read and
re-check every YAML file it checked before (about 0.2 s of a 0.4 s `evaluate`).

The cache key is a digest of everything the loader's verdict depends on: the
path and bytes of every file under the root's ``knowledge/`` and ``provenance/``
folders, every JSON Schema, the source of every engine module, and the Python
version. Change any byte of any of them and the key changes, the full loader
runs and checks everything again. Only a knowledge base that passed every check
is ever stored; a failing one raises as before and leaves nothing behind.

The cache lives in ``$BMDKB_CACHE_DIR``, else ``$XDG_CACHE_HOME/bmdkb``, else
``~/.cache/bmdkb``; ``BMDKB_NO_CACHE=1`` turns it off. It holds pickles, so it is
as trusted as the user's own home directory; a cache that cannot be written
(read-only home) is simply not used.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path

from bmdkb.engine.kb import knowledge_base

from bmdkb.engine.resources import ENGINE_DIR
KEEP = 8  # cached files of each kind (knowledge bases, ledger verdicts) kept; older ones are removed


def cache_dir() -> Path | None:
    """The directory for cached knowledge bases (BMDKB_CACHE_DIR, else the user cache), or None when BMDKB_NO_CACHE is set."""
    if os.environ.get("BMDKB_NO_CACHE"):
        return None
    if os.environ.get("BMDKB_CACHE_DIR"):
        return Path(os.environ["BMDKB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bmdkb"


def _files(folder: Path):
    """Every entry under ``folder``, symlinked folders followed once each."""
    visited = set()
    for current, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in visited:   # a symlink cycle, or a folder reached twice
            dirs[:] = []
            continue
        visited.add(real)
        dirs.sort()
        for name in sorted(names):
            yield Path(current) / name


def key(root: Path) -> str:
    """Digest of every input of the loader's verdict (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{pickle.HIGHEST_PROTOCOL}\0{root.resolve()}\0".encode())
    sources = [(root, root / "knowledge"), (root, root / "provenance"),
               (knowledge_base.PACKAGE_ROOT, knowledge_base.PACKAGE_ROOT / "schemas"), (ENGINE_DIR, ENGINE_DIR)]
    for base, folder in sources:
        for path in _files(folder):
            if path.suffix == ".pyc" or "__pycache__" in path.parts:
                continue
            # Where a symlink points is part of the verdict (outside the root is refused), and
            # anything but a regular file is never opened here (a FIFO would block).
            digest.update(f"{path.relative_to(base).as_posix()}\0{os.path.realpath(path)}\0".encode())
            if stat.S_ISREG(os.stat(path).st_mode):
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load(root: str | Path | None = None):
    """knowledge_base.load(root), from the cache when every input is byte-identical."""
    root = Path(root) if root else knowledge_base.default_root()
    folder = cache_dir()
    if folder is None or not (root / "knowledge").is_dir():
        return knowledge_base.load(root)
    try:
        path = folder / f"kb-{key(root)}.pickle"
    except OSError:
        return knowledge_base.load(root)  # an unreadable file: the loader words the error
    kb = fetch(path, knowledge_base.KnowledgeBase)
    if kb is None:
        kb = knowledge_base.load(root)
        keep(folder, path, kb)
    return kb


def fetch(path: Path, kind: type):
    """The object pickled at ``path`` if it is a ``kind``; None when absent, unreadable or of another
    version (a cache miss, never an error)."""
    try:
        with open(path, "rb") as handle:
            found = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    return found if isinstance(found, kind) else None


def keep(folder: Path, path: Path, value) -> None:
    """Pickle ``value`` to ``path`` (in ``folder``) atomically, then keep only the KEEP newest files
    named like it (``kb-*``, ``ledger-*``: the part before the first dash); a cache that cannot be
    written is no cache, so errors are ignored."""
    family = path.name.split("-", 1)[0]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{family}-", suffix=".tmp", delete=False) as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
        cached = sorted(folder.glob(f"{family}-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in cached[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
