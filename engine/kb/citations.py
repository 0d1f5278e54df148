"""Whether a citation verifies against its registered source: the one place that checks it.

A citation verifies when its source is registered, its section is one of that source's
sections and its quote is, character for character, in the source's text. The reference
numbers it carries must each be in provenance/references.yaml. Load refuses a knowledge base
on the first way a citation fails (``first_failure``); lint reports every way
(``failures``, under each failure's ``code``); explanations say whether the quote was found
(``quote_found``). A citation is a ``knowledge_base.Citation`` or its dict as written.
"""
from __future__ import annotations

from dataclasses import dataclass

SOURCE_UNKNOWN = "citation-source-unknown"   # lint check ids, the failures' codes
QUOTE_NOT_FOUND = "quote-not-found"
REFERENCE_UNLISTED = "reference-unlisted"
REFERENCES_FILE = "provenance/references.yaml"


@dataclass(frozen=True)
class Failure:
    """One way a citation fails to verify.

    ``field`` is the citation's field (``source``, ``section``, ``quote``, ``references``) and
    ``index`` the position of the reference number for ``references``; ``message`` is load's wording."""

    code: str
    field: str
    message: str
    index: int | None = None

    @property
    def path(self) -> str:
        """The field inside the citation, indexed for a reference: ``quote``, ``references[1]``."""
        return self.field if self.index is None else f"{self.field}[{self.index}]"


def _parts(citation) -> tuple:
    if isinstance(citation, dict):
        return citation["source"], citation["section"], citation["quote"], citation.get("references", [])
    return citation.source, citation.section, citation.quote, citation.references


def failures(kb, citation) -> list[Failure]:
    """Every way ``citation`` fails against ``kb``'s sources and references, in the order load
    looks: an unknown source (then neither section nor quote can be looked up), the section, the
    quote, then each reference number missing from the registry."""
    source_id, section, quote, references = _parts(citation)
    out = []
    source = kb.sources.get(source_id)
    if source is None:
        out.append(Failure(SOURCE_UNKNOWN, "source", f"no registered source {source_id!r}"))
    else:
        if section not in source.meta["sections"]:
            out.append(Failure(SOURCE_UNKNOWN, "section", f"{section!r} is not a section of {source.id}"))
        if quote not in source.text:
            out.append(Failure(QUOTE_NOT_FOUND, "quote", f"quote not found verbatim in {source.id}: {quote[:60]!r}"))
    for k, number in enumerate(references):
        if number not in kb.references:
            out.append(Failure(REFERENCE_UNLISTED, "references", f"reference {number} is not in {REFERENCES_FILE}", k))
    return out


def first_failure(kb, citation) -> Failure | None:
    """The first failure load refuses the citation for, or None when it verifies."""
    found = failures(kb, citation)
    return found[0] if found else None


def quote_found(kb, citation) -> bool:
    """The source is registered and holds the quote verbatim (the section aside)."""
    return not any(f.field in ("source", "quote") for f in failures(kb, citation))


def verifies(kb, citation) -> bool:
    """What backing a claim needs: a registered source and section, and the quote found there
    (reference numbers aside: an unlisted one is a finding of its own)."""
    return not any(f.field in ("source", "section", "quote") for f in failures(kb, citation))
