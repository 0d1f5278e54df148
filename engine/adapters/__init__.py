"""The seam between the generic engine and a domain: the case-adapter interface and the
registry that finds an adapter by the name a knowledge base gives in ``kb.yaml``
(``adapter: dxa``).

The generic engine (engine/kb, engine/run, engine/explain, engine/authoring, engine/review)
never imports an adapter module: it asks :func:`named` (or :func:`for_kb`) for the object,
and the registry imports the module by its dotted path, so the dependency runs one way.
Each adapter module exposes ``ADAPTER``, an object satisfying :class:`CaseAdapter`.
"""
from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

# Adapter name (kb.yaml `adapter`) -> module exposing ADAPTER. Strings, not imports: the
# generic engine knows no adapter; the name resolves only when a knowledge base asks for it.
REGISTRY: dict[str, str] = {
    "dxa": "bmdkb.engine.adapters.dxa",
}
# The adapter used to keep reading (and checking cases) when kb.yaml itself cannot be read,
# so its problems are reported alongside everything else, as before the seam existed.
DEFAULT = "dxa"


@dataclass(frozen=True)
class DataFile:
    """A knowledge file the domain needs besides rules, parameters and facts (e.g. the
    treatment-class table). The KB reader reads and validates it generically and keeps
    ``document[take]`` as ``kb.domain_data[key]``; its citations are checked like any other."""

    key: str          # name in kb.domain_data
    path: str         # relative to the knowledge-base root, e.g. knowledge/facts/treatment-classes.yaml
    schema: str       # schemas/<schema>.schema.json
    take: str         # the document's field holding the data
    label: str        # how `bmdkb diff` names a change to it


@runtime_checkable
class CaseAdapter(Protocol):
    """What the generic engine needs from a domain."""

    name: str
    data_files: Sequence[DataFile]
    # Derived ratio fields explain can show as numerator / denominator:
    # {"change_in_lsc": ("delta_g_cm2", "lsc_g_cm2")}
    ratio_fields: Mapping[str, tuple[str, str]]

    def validate_case(self, case: Any, file: str, today: dt.date) -> None:
        """Raise CaseError listing every problem of ``case`` (read from ``file``)."""

    def case_to_facts(self, case: dict, domain_data: Mapping[str, Any]) -> list:
        """The case's input facts (each with its input field paths), then derived facts."""

    def summary_lines(self, result_facts: list[dict]) -> list[str]:
        """Lines a renderer prints under the headline stage (the case's own measurements)."""

    def schema_message(self, error) -> str | None:
        """A domain wording for one jsonschema error in a case, or None for the generic one."""


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


def for_kb(kb) -> CaseAdapter:
    """The adapter the knowledge base names in kb.yaml; the default one for ``None`` (no
    knowledge base loaded, e.g. `bmdkb validate` checking cases after the KB was refused)
    or when kb.yaml did not read."""
    return named(kb.meta.get("adapter", DEFAULT) if kb is not None else DEFAULT)
