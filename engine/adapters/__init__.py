"""The seam between the generic engine and a domain: the case-adapter interface and the
registry that finds an adapter by the name a knowledge base gives in ``kb.yaml``
(``adapter: dxa``).

The generic engine (engine/kb, engine/run, engine/explain, engine/authoring, engine/review)
never imports an adapter module: it asks :func:`named` (or :func:`for_kb`) for the object,
and the registry imports the module by its dotted path, so the dependency runs one way.
Each adapter module exposes ``ADAPTER``, an object satisfying :class:`CaseAdapter`
(engine/adapters/interface.py, which adapters import instead of this registry).
"""
from __future__ import annotations

import functools
import importlib

from bmdkb.engine.adapters.interface import CaseAdapter, DataFile  # noqa: F401 (the seam, re-exported)

# Adapter name (kb.yaml `adapter`) -> module exposing ADAPTER. Strings, not imports: the
# generic engine knows no adapter; the name resolves only when a knowledge base asks for it.
REGISTRY: dict[str, str] = {
    "dxa": "bmdkb.engine.adapters.dxa",
}
# The adapter used to keep reading (and checking cases) when kb.yaml itself cannot be read,
# so its problems are reported alongside everything else, as before the seam existed.
DEFAULT = "dxa"


class UnknownAdapter(LookupError):
    """kb.yaml names an adapter the registry does not know."""


def known() -> list[str]:
    """The adapter names the registry knows, sorted."""
    return sorted(REGISTRY)


def named(name: str) -> CaseAdapter:
    """The adapter registered as ``name``; UnknownAdapter if there is none."""
    if name not in REGISTRY:
        raise UnknownAdapter(name)
    return importlib.import_module(REGISTRY[name]).ADAPTER


@functools.cache
def unit_decimals() -> dict:
    """Decimals each unit is reported to, as the registered adapters declare them: a unit's
    precision belongs to the unit, so explanations need no knowledge base to write a number."""
    found: dict = {}
    for name in known():
        found.update(named(name).unit_decimals)
    return found


def for_kb(kb) -> CaseAdapter:
    """The adapter the knowledge base names in kb.yaml; the default one for ``None`` (no
    knowledge base loaded, e.g. `bmdkb validate` checking cases after the KB was refused)
    or when kb.yaml did not read."""
    return named(kb.meta.get("adapter", DEFAULT) if kb is not None else DEFAULT)
