"""Reading a FHIR Bundle as plain data, with the FHIR path of everything read: its entries by
resource type, references resolved within the Bundle, the codes of a CodeableConcept in a given
system. Knows no clinical domain."""
from __future__ import annotations

from dataclasses import dataclass

from bmdkb.engine.common.errors import CaseError, Problem


def is_bundle(data) -> bool:
    """True for FHIR input (a mapping with a ``resourceType``), told apart from a contract case by
    content: a case never has one. Anything but a Bundle is then refused by ``Bundle`` with a message
    saying so, rather than read as a case and reported as missing every case field."""
    return isinstance(data, dict) and "resourceType" in data


@dataclass(frozen=True)
class Entry:
    """One resource of the Bundle: its position, the resource, and its FHIR path."""

    index: int
    resource: dict
    path: str          # Bundle.entry[3].resource

    @property
    def type(self) -> str:
        """The resource type (Observation, Device, ...)."""
        return self.resource.get("resourceType", "")

    def at(self, *parts) -> str:
        """The FHIR path of an element of this resource: at("valueQuantity", "value")."""
        text = self.path
        for part in parts:
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return text


@dataclass(frozen=True)
class Code:
    """A code found in a CodeableConcept, with the FHIR path of its ``code`` element."""

    system: str
    code: str
    display: str | None
    path: str


class BundleReader:
    """A Bundle's entries by type, and references between them resolved by fullUrl or Type/id."""

    def __init__(self, bundle: dict, file: str):
        if not (is_bundle(bundle) and bundle["resourceType"] == "Bundle"):
            kind = bundle.get("resourceType") if isinstance(bundle, dict) else None
            raise CaseError(Problem(file, "resourceType", f"is {kind!r}, not 'Bundle': bmdkb reads FHIR as a Bundle "
                                    "holding the Patient, the DXA Observations (and their Devices), medications "
                                    "and conditions; put this resource and the ones it references in one"))
        self.bundle = bundle
        self.file = file
        entries = bundle.get("entry") or []
        self.entries = [Entry(i, e["resource"], f"Bundle.entry[{i}].resource")
                        for i, e in enumerate(entries) if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        self._by_reference = {}
        for i, e in enumerate(entries):
            if not (isinstance(e, dict) and isinstance(e.get("resource"), dict)):
                continue
            entry = next(x for x in self.entries if x.index == i)
            resource = e["resource"]
            if e.get("fullUrl"):
                self._by_reference[e["fullUrl"]] = entry
            if resource.get("id"):
                self._by_reference[f"{resource.get('resourceType')}/{resource['id']}"] = entry

    def of_type(self, *types: str) -> list[Entry]:
        """The entries whose resource is one of ``types``, in Bundle order."""
        return [e for e in self.entries if e.type in types]

    def resolve(self, reference) -> Entry | None:
        """The entry a Reference (or reference string) points to within the Bundle; None if absent.
        A full URL ending in Type/id also matches the entry with that type and id."""
        ref = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(ref, str):
            return None
        if ref in self._by_reference:
            return self._by_reference[ref]
        parts = ref.rstrip("/").split("/")
        if len(parts) >= 2:
            return self._by_reference.get(f"{parts[-2]}/{parts[-1]}")
        return None


def codes(concept, path: str, system: str | None = None) -> list[Code]:
    """The codings of a CodeableConcept at ``path`` (in ``system`` only, when given)."""
    found = []
    if not isinstance(concept, dict):
        return found
    for i, coding in enumerate(concept.get("coding") or []):
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
            continue
        if system is not None and coding.get("system") != system:
            continue
        found.append(Code(coding.get("system", ""), coding["code"], coding.get("display"), f"{path}.coding[{i}].code"))
    return found


def texts(concept, path: str) -> list[tuple[str, str]]:
    """(text, path) of a CodeableConcept's text and its codings' displays, for a text fallback."""
    found = []
    if isinstance(concept, dict):
        if isinstance(concept.get("text"), str):
            found.append((concept["text"], f"{path}.text"))
        for i, coding in enumerate(concept.get("coding") or []):
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                found.append((coding["display"], f"{path}.coding[{i}].display"))
    return found


def date_part(value) -> str | None:
    """The calendar date of a FHIR date or dateTime as written (2021-11-10T19:14:41-08:00 -> 2021-11-10);
    None unless it gives a full date."""
    if not isinstance(value, str) or len(value) < 10 or value[4] != "-" or value[7] != "-":
        return None
    return value[:10]
