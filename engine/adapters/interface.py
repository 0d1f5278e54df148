"""The case-adapter interface: what the generic engine needs from a domain. Adapters import
this module (not the registry in engine/adapters/__init__.py), so no import runs both ways."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class DataFile:
    """A knowledge file the domain needs besides rules, parameters and facts (e.g. the
    treatment-class table). The KB reader reads and validates it generically and keeps
    ``document[take]`` as ``kb.domain_data[key]``; its citations are checked like any other."""

    key: str          # name in kb.domain_data
    path: str         # relative to the knowledge-base root, e.g. knowledge/facts/treatment-classes.yaml
    schema: str       # schemas/<schema>.schema.json
    take: str         # the document's field holding the data ("": the whole document)
    label: str        # how `bmdkb diff` names a change to it
    required: bool = True   # False: a knowledge base may leave it out (kb.domain_data[key] is then {})


@runtime_checkable
class CaseAdapter(Protocol):
    """What the generic engine needs from a domain."""

    name: str
    data_files: Sequence[DataFile]
    # Derived ratio fields explain can show as numerator / denominator:
    # {"change_in_lsc": ("delta_g_cm2", "lsc_g_cm2")}
    ratio_fields: Mapping[str, tuple[str, str]]
    # Decimals a unit of the domain is reported to, for explanations: {"g/cm2": 3}
    unit_decimals: Mapping[str, int]

    def validate_case(self, case: Any, file: str, today: dt.date) -> None:
        """Raise CaseError listing every problem of ``case`` (read from ``file``)."""

    def case_to_facts(self, case: dict, domain_data: Mapping[str, Any]) -> list:
        """The case's input facts (each with its input field paths), then derived facts."""

    def summary_lines(self, result_facts: list[dict]) -> list[str]:
        """Lines a renderer prints under the headline stage (the case's own measurements)."""

    def schema_message(self, error) -> str | None:
        """A domain wording for one jsonschema error in a case, or None for the generic one."""

    # An adapter that reads FHIR also has (engine/fhir/evaluate.py asks for them by name, so an
    # adapter without FHIR input need not define them):
    #   case_from_bundle(bundle, file, domain_data, facility, facility_file) -> an object with
    #       .case, .paths (case path -> FHIR path), .unmapped, .notes
    #   fhir_binding(domain_data) -> an object with .loinc_codes and .doc, or None
    #   facility_problems(facility, file) -> list of Problem
