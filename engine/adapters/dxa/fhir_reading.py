"""The reading state shared by the parts of the DXA FHIR mapping (engine/adapters/dxa/fhir.py):
the binding as lookups, the problems, notes and unmapped resources collected while a Bundle is
read, and the conversions every part uses (a Quantity in the case's unit, an effective date)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bmdkb.engine.common.errors import Problem
from bmdkb.engine.fhir.bundle import BundleReader, Entry, date_part
from bmdkb.engine.fhir.units import UnitError, convert

READ_STATUSES = ("final", "amended", "corrected")
SITES = ("lumbar_spine", "total_hip", "femoral_neck")


@dataclass(frozen=True)
class Binding:
    """The terminology binding as lookups (built from kb.domain_data['fhir_binding'])."""

    doc: dict

    @property
    def loinc(self) -> str:
        """The LOINC system URI."""
        return self.doc["systems"]["loinc"]

    @property
    def snomed(self) -> str:
        """The SNOMED CT system URI."""
        return self.doc["systems"]["snomed"]

    @property
    def rxnorm(self) -> str:
        """The RxNorm system URI."""
        return self.doc["systems"]["rxnorm"]

    @property
    def observations(self) -> dict:
        """LOINC code -> its observation entry."""
        return {o["code"]: o for o in self.doc["observations"]}

    @property
    def not_used(self) -> dict:
        """LOINC code -> a code recognised and deliberately not read."""
        return {o["code"]: o for o in self.doc.get("not_used", [])}

    @property
    def loinc_codes(self) -> list[str]:
        """Every Observation code the binding reads (for prefetch search templates)."""
        return [o["code"] for o in self.doc["observations"]]

    @property
    def finding_codes(self) -> dict:
        """SNOMED CT code -> finding entry."""
        return {f["snomed"]: f for f in self.doc.get("findings", [])}


def binding(domain_data) -> Binding | None:
    """The knowledge base's FHIR binding, or None when it has none."""
    doc = domain_data.get("fhir_binding") or {}
    return Binding(doc) if doc.get("observations") else None


def unverified(entry: dict) -> bool:
    """Whether a binding entry is marked ``verified: false``."""
    return entry.get("verified") is False


def number(value: Decimal):
    """An exact decimal as the case carries it: an int when whole, else the float of its text."""
    value = value.normalize()
    return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(f"{value:f}")


class Reading:
    """One Bundle being read: the problems found, the notes, what was not read, the entries read."""

    def __init__(self, reader: BundleReader, binding_: Binding, units: dict, file: str):
        self.reader, self.binding, self.units, self.file = reader, binding_, units, file
        self.problems: list[Problem] = []
        self.unmapped: list[str] = []
        self.notes: list[str] = []
        self.unverified: set[str] = set()
        self.read_entries: set[int] = set()   # entries read (or resolved) by some part of the mapping

    def problem(self, path: str, message: str) -> None:
        """Record a problem at a FHIR path (raised together, as one CaseError)."""
        self.problems.append(Problem(self.file, path, message))

    def note(self, text: str) -> None:
        """Record a note on how the Bundle was read (once)."""
        if text not in self.notes:
            self.notes.append(text)

    def used(self, entry: dict, what: str) -> None:
        """Record that a binding entry was used; an unverified one is named in the notes."""
        if unverified(entry):
            self.unverified.add(what)

    def quantity(self, e: Entry, target: str):
        """The Observation's valueQuantity in the case unit (a number), or None with a problem."""
        q = e.resource.get("valueQuantity")
        if not isinstance(q, dict):
            self.problem(e.at("valueQuantity"), "no valueQuantity: a DXA, weight or lab result needs a numeric value")
            return None
        try:
            converted = convert(q, target, self.units)
        except UnitError as exc:
            where = "code" if "code" in q else ("unit" if "unit" in q else "value")
            self.problem(e.at("valueQuantity", where), str(exc))
            return None
        if converted.note:
            self.note(f"{e.at('valueQuantity')}: {converted.note}")
        value = q.get("value")
        if converted.value == value and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value          # no conversion: the number exactly as the Bundle wrote it
        return number(converted.value)



def effective(e: Entry):
    """(date, FHIR path) of an Observation's effectiveDateTime or effectivePeriod.start; (None, None) if neither."""
    res = e.resource
    if "effectiveDateTime" in res:
        return date_part(res["effectiveDateTime"]), e.at("effectiveDateTime")
    period = res.get("effectivePeriod")
    if isinstance(period, dict) and period.get("start"):
        return date_part(period["start"]), e.at("effectivePeriod", "start")
    return None, None
