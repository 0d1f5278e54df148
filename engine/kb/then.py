"""A rule's ``then``, typed: what one firing of the rule produces, built once when the rule is read.

A rule either *concludes* (a conclusion code, with a support level and optionally the alias of
the pattern whose ``label`` is shown as a detail) or *asserts* a derived fact (its type, the
pattern it copies fields from, the fields copied, and constant fields). The schema
(schemas/rule.schema.json) guarantees exactly one of the two.

Transition: ``Then`` still answers mapping look-ups (``then["assert"]``, ``then.get("conclude")``,
``"conclude" in then``) with the rule file's mapping as written, for the modules that read it that
way (explain, lint, the reader's checks, the CLIPS peer). New code reads the typed fields; the
mapping access goes once those readers have moved.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Conclude:
    """``then.conclude``: the conclusion code a firing draws, how strongly, and its detail pattern."""

    code: str
    support: str = "considered"
    details_from: str | None = None


@dataclass(frozen=True, slots=True)
class Assert:
    """``then.assert``: a derived fact of ``type`` with fields copied from pattern ``source`` plus constants."""

    type: str
    source: str | None = None          # `from`: the alias of the pattern whose fields are copied
    copy: tuple = ()
    constants: dict = field(default_factory=dict)   # `set`


@dataclass(frozen=True, slots=True)
class Then:
    """A rule's ``then``: exactly one of ``conclude`` and ``assertion`` is set."""

    conclude: Conclude | None
    assertion: Assert | None
    raw: dict                       # the mapping as written, for the transitional mapping access

    @classmethod
    def from_dict(cls, raw: dict) -> Then:
        """Build from the rule file's ``then`` mapping (already schema-checked)."""
        conclude = assertion = None
        if "conclude" in raw:
            spec = raw["conclude"]
            conclude = Conclude(spec["code"], spec.get("support", "considered"), spec.get("details_from"))
        elif "assert" in raw:
            spec = raw["assert"]
            assertion = Assert(spec["type"], spec.get("from"), tuple(spec.get("copy", [])),
                               dict(spec.get("set", {})))
        return cls(conclude, assertion, raw)

    # -- transitional mapping access (see the module docstring) -------------------------------------
    def __getitem__(self, key: str):
        return self.raw[key]

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, default=None):
        """The rule file's ``then[key]`` as written (transitional; read the typed fields instead)."""
        return self.raw.get(key, default)
