"""The fact record shared by the adapter, the runtime, results and explain."""
from __future__ import annotations

from dataclasses import dataclass, field

_SCALARS = (str, int, float, bool)
_EXACT_SCALARS = frozenset(_SCALARS)


@dataclass
class Fact:
    """One fact. Input facts carry ``paths`` (field -> input field path); facts
    computed from others carry ``derived_from``; facts asserted by a rule carry
    ``rule`` and ``because``. Following those links always ends at input facts."""

    id: str
    type: str
    fields: dict
    paths: dict = field(default_factory=dict)
    derived_from: list = field(default_factory=list)
    rule: str | None = None
    because: list = field(default_factory=list)

    def engine_view(self) -> dict:
        """The flat record the rule engine matches: scalar fields only."""
        view = {"id": self.id, "type": self.type}
        for key, value in self.fields.items():
            if type(value) in _EXACT_SCALARS or isinstance(value, _SCALARS):  # the exact-type test is the fast path
                view[key] = value
        return view

    def to_dict(self) -> dict:
        """The fact as shown in results: id, type and fields, plus its paths and derivation when present."""
        out = {"id": self.id, "type": self.type}
        out.update(self.fields)
        if self.paths:
            out["paths"] = self.paths
        if self.derived_from:
            out["derived_from"] = self.derived_from
        if self.rule:
            out["rule"] = self.rule
            out["because"] = self.because
        return out
