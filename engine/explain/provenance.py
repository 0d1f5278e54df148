"""Where a rule's authority comes from: its editorial status in the review ledger, its quoted
source passages (verified verbatim against the registered text) and their numbered references."""
from __future__ import annotations

from bmdkb.engine.explain.model import Citation, Reference, RuleInfo
from bmdkb.engine.kb import citations as kb_citations
from bmdkb.engine.review import governance


class Provenance:
    """Rule status, citations and references, read from the knowledge base and review ledger."""

    def __init__(self, index):
        self.index = index
        self.kb = index.kb

    def rule_info(self, rule, conclusion: dict | None = None) -> RuleInfo:
        """A rule's identity, status, caution (the result's, else the ledger's) and approvals."""
        status = self.index.statuses.get(rule.id)
        info = RuleInfo(rule.id, rule.version, rule.title, rule.file, rule.digest,
                        status.status if status else "unknown")
        caution = (conclusion or {}).get("caution")
        if caution is None and status is not None and not status.approved:
            caution = status.caution or governance.PENDING
        if caution:
            info.caution = caution
        detail = (status.detail or {}) if status is not None else {}
        if isinstance(detail.get("label"), str) and detail["label"] != info.status:
            info.status_label = detail["label"]
        approvals = [a for a in detail.get("approvals") or [] if isinstance(a, dict) and a.get("by")]
        if approvals:  # who approved (or, under review, has approved so far) and when
            info.approvals = [{k: str(a[k]) for k in ("by", "time", "review_by") if a.get(k)} for a in approvals]
        return info

    def citations(self, rule) -> list[Citation]:
        """The rule's quotes, each checked against its registered source text."""
        out = []
        for citation in rule.citations:
            source = self.kb.sources.get(citation.source)
            out.append(Citation(citation.source, source.meta.get("title", citation.source) if source else
                                citation.source, citation.section, citation.quote,
                                kb_citations.quote_found(self.kb, citation),
                                [self.reference(n) for n in citation.references],
                                _failure(self.kb, citation)))
        return out

    def reference(self, number: int) -> Reference:
        """A numbered reference, resolved to its record or with the reason it is not."""
        entry = self.kb.references.get(number)
        if entry is None:
            return Reference(number, False, registered=False)
        if entry.get("status") == "resolved" and entry.get("record"):
            return Reference(number, True, entry["record"], verification=entry.get("verification") or None)
        return Reference(number, False, reason=entry["reason"] if "reason" in entry else None)


def _failure(kb, citation) -> tuple | None:
    """(field, message) of the citation's first failure (engine/kb/citations.py), or None."""
    failure = kb_citations.first_failure(kb, citation)
    return (failure.field, failure.message) if failure else None
