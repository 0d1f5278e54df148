"""Checks that every claim is backed by a source passage that says it, and that the
article's reference numbers a passage carries can be traced. Whether a citation verifies
is engine/kb/citations.py's to say; these checks word its failures site by site."""
from __future__ import annotations

import re

from bmdkb.engine.authoring.lint.registry import check
from bmdkb.engine.kb import citations
from bmdkb.engine.kb.citations import REFERENCES_FILE

# A resolved reference whose record is only recalled says so in its `verification` note.
_NOT_VERIFIED = re.compile(r"\bnot\b[^.]*\bverified\b|\bunverified\b", re.IGNORECASE)


def _failing(draft, code: str):
    """(site, failure) for each citation site's failures of kind ``code``."""
    for site in draft.citations:
        for failure in citations.failures(draft.kb, site.raw):
            if failure.code == code:
                yield site, failure


@check(citations.SOURCE_UNKNOWN, "error", "a citation names a source or section that is not registered")
def source_unknown(draft):
    """Citations whose source or section is not in the source registry."""
    for site, failure in _failing(draft, citations.SOURCE_UNKNOWN):
        yield site.file, f"{site.field}.{failure.path}", failure.message


@check(citations.QUOTE_NOT_FOUND, "error", "a citation's quote is not, character for character, in its source text")
def quote_not_found(draft):
    """Citations whose quote does not appear verbatim in the cited source text."""
    for site, failure in _failing(draft, citations.QUOTE_NOT_FOUND):
        yield site.file, f"{site.field}.{failure.path}", failure.message


@check("citation-unverified", "error", "a rule has no citation that verifies (known source and section, quote found)")
def rule_without_verified_citation(draft):
    """Rules none of whose citations verifies."""
    by_rule = {}
    for site in draft.citations:
        by_rule.setdefault((site.file, site.owner), []).append(site)
    for rule in draft.kb.rules.values():
        sites = by_rule.get((rule.file, rule.id), [])
        if not any(citations.verifies(draft.kb, s.raw) for s in sites):
            yield rule.file, "citations", f"none of rule {rule.id}'s {len(sites)} citation(s) verifies: each needs " \
                                          "a registered source and section and a quote found there verbatim"


@check(citations.REFERENCE_UNLISTED, "error", "a citation carries a reference number the source's reference registry lacks")
def reference_unlisted(draft):
    """Citations carrying a reference number missing from the source's reference registry."""
    for site, failure in _failing(draft, citations.REFERENCE_UNLISTED):
        yield site.file, f"{site.field}.{failure.path}", \
            f"{failure.message}: register it, resolved or unresolved with a reason"


@check("reference-unresolved", "warning", "a citation carries a reference the registry marks unresolved")
def reference_unresolved(draft):
    """Citation references that the reference registry marks unresolved."""
    for site in draft.citations:
        for k, number in enumerate(site.raw.get("references", [])):
            ref = draft.kb.references.get(number)
            if ref is not None and ref["status"] == "unresolved":
                listed = f" (listed as {ref['listed_as']!r})" if ref.get("listed_as") else " (not in the article's list)"
                yield site.file, f"{site.field}.references[{k}]", \
                    f"reference {number} is unresolved{listed}: the passage cannot be traced to its primary source"


@check("reference-unverified", "warning", "a reference is resolved to a record that has not been verified")
def reference_unverified(draft):
    """Resolved references whose record has no verification note, or one saying it is not verified."""
    for index, (number, ref) in enumerate(sorted(draft.kb.references.items())):
        note = ref.get("verification", "")
        if ref["status"] == "resolved" and (not note or _NOT_VERIFIED.search(note)):
            cited = sum(number in s.raw.get("references", []) for s in draft.citations)
            yield REFERENCES_FILE, f"references[{_position(draft, number)}].verification", \
                f"reference {number}'s record is not verified against a bibliographic database " \
                f"({cited} citation{'s carry' if cited != 1 else ' carries'} it)"


def _position(draft, number) -> int:
    doc = draft.documents.get(REFERENCES_FILE, {})
    numbers = [r["number"] for r in doc.get("references", [])]
    return numbers.index(number) if number in numbers else 0
