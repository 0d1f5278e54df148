"""An evaluation as CDS Hooks cards: one card per clinical question (config.CardGroup), not one per rule.

Each card holds the conclusions of its group's stages, in the result's order (stage, then code):

- ``summary``: the question and the lead conclusion's rule title (the first "supported" one, else
  the first), with how many more the card holds and "(not yet approved)" when any of it rests on
  unapproved content; always under 140 characters (the title is shortened with "…").
- ``indicator`` (the documented rule): ``warning`` when the card holds a conclusion of one of its
  group's ``warning_stages`` (by default: a pattern was found, the finding the clinician should act
  on), ``info`` otherwise; ``critical`` is never used, since nothing in the knowledge base is urgent.
- ``detail`` (GitHub-flavoured Markdown): the caution for unapproved content first, the measurement
  lines on the headline card, then per stage each conclusion's statement, what was recorded, and its
  citations as verbatim quotes with a link to the passage; what production mode withheld is counted,
  never shown.
- ``source``: the knowledge base's name and release, linking to the cited source's page.
- ``links``: one per cited passage, to the service's own page of the registered source text with
  that passage highlighted (pages.py).
- ``overrideReasons`` and a ``uuid`` that is stable: the same knowledge base release, mode, card
  and conclusions give the same uuid, whoever the patient (it is made from no patient data), so
  feedback on a card can be counted across patients.

Every string from the knowledge base or the case goes through the Markdown escaping of
cli/render/escape.py (the one home of escaping per format).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from bmdkb.engine.api import adapter_for, document as result_document
from bmdkb.cli.render import escape
from bmdkb.service.config import CardGroup
from bmdkb.service.pages import passage_id

SUMMARY_LIMIT = 139          # CDS Hooks: summary "<140 characters"
CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "bmdkb:cds-hooks:card")
NOT_APPROVED = " (not yet approved)"
MAX_CACHED = 4096            # conclusions' Markdown kept (see CardRenderer._conclusion)
OVERRIDE_REASONS = (
    ("already-addressed", "Already addressed"),
    ("not-applicable", "Does not apply to this patient"),
    ("data-in-error", "DXA results in error or not comparable"),
    ("clinical-judgement", "Clinical judgement differs"),
)


@dataclass(frozen=True)
class CardInfo:
    """What a card says, without patient data: kept with feedback so it can be summarised."""

    uuid: str
    group: str
    codes: tuple
    withheld: int
    release: str
    mode: str


def override_reasons(system: str) -> list[dict]:
    """The reasons a clinician can give for dismissing a card (FHIR Codings in ``system``)."""
    return [{"code": code, "system": system, "display": display} for code, display in OVERRIDE_REASONS]


def card_uuid(kb, mode: str, group: str, codes, withheld) -> str:
    """The stable uuid of a card: from the knowledge base, mode, group and conclusion codes only."""
    key = json.dumps([kb.meta["name"], kb.release, kb.digest, mode, group, list(codes), list(withheld)])
    return str(uuid.uuid5(CARD_NAMESPACE, key))


def _shorten(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    cut = text[:max(room - 1, 0)].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def summary_line(question: str, title: str, more: int, cautioned: bool) -> str:
    """``question: title (+N more) (not yet approved)``, the title shortened to keep it under 140."""
    tail = (f" (+{more} more)" if more else "") + (NOT_APPROVED if cautioned else "")
    head = f"{question}: "
    return head + _shorten(title, SUMMARY_LIMIT - len(head) - len(tail)) + tail


def indicator(group, conclusions) -> str:
    """``warning`` when the card holds a conclusion of one of the group's warning stages, else ``info``."""
    return "warning" if any(c.kind in group.warning_stages for c in conclusions) else "info"


class CardRenderer:
    """Renders evaluations of one knowledge base as cards (one renderer per service)."""

    def __init__(self, kb, groups: tuple, mode: str):
        self.kb = kb
        self.groups = groups
        self.mode = mode
        self.titles = {s["kind"]: s["title"] for s in kb.stages}
        self.adapter = adapter_for(kb)
        self.headline = kb.headline_kind
        self._done: dict = {}
        self._sources: dict = {}

    # ------------------------------------------------------------------ pieces of the detail
    def _citation(self, citation, base: str) -> str:
        url = f"{base}/sources/{citation.source}/passages/{passage_id(citation.quote)}#passage"
        return (f"  > “{escape.markdown(citation.quote)}”  \n"
                f"  > — *{escape.markdown(citation.section)}* ([read the passage]({url}))")

    def _conclusion(self, c, base: str) -> list[str]:
        # A conclusion's Markdown depends on nothing of the patient but its recorded details, so it
        # is made once per rule, caution, details and address (bounded: the cache is cleared when full).
        key = (c.code, c.rule.id, c.support, c.caution, c.statement, tuple(c.details), base)
        found = self._done.get(key)
        if found is None:
            if len(self._done) >= MAX_CACHED:
                self._done.clear()
            found = self._done[key] = self._conclusion_lines(c, base)
        return found

    def _conclusion_lines(self, c, base: str) -> list[str]:
        title = escape.markdown(self.kb.rules[c.rule.id].title)
        qualifier = f" ({c.support})" if c.support == "supported" else ""
        caution = f" — *Caution: {escape.markdown(c.caution)}*" if c.caution else ""
        out = [f"- **{title}**{qualifier}{caution}  ", f"  {escape.markdown(c.statement)}"]
        for detail in c.details:
            out.append(f"  Recorded: {escape.markdown(detail)}")
        out.append("")
        for citation in c.citations:   # a blank line between quotes keeps each its own blockquote
            out += [self._citation(citation, base), ""]
        return out

    def _source_line(self, source_id: str) -> str:
        line = self._sources.get(source_id)
        if line is None:
            line = self._sources[source_id] = self._source_words(source_id)
        return line

    def _source_words(self, source_id: str) -> str:
        meta = self.kb.sources[source_id].meta
        return (f"Knowledge base {escape.markdown(self.kb.meta['name'])} release {escape.markdown(self.kb.release)}, "
                f"citing “{escape.markdown(meta['title'])}”, {escape.markdown(meta['publisher'])}, "
                f"last updated {escape.markdown(meta['last_updated'])}.")

    def _measurements(self, result) -> list[str]:
        facts = [result_document.fact_to_dict(f) for f in result.facts]
        lines = self.adapter.summary_lines(facts)
        return ["    " + escape.text(line) for line in lines] + [""] if lines else []

    # ------------------------------------------------------------------ cards
    def _card(self, group, conclusions, withheld: list, result, base: str, notes: list[str]) -> tuple[dict, CardInfo]:
        cautioned = [c for c in conclusions if c.caution]
        withheld_codes = sorted(w.code for w in withheld)
        lead = next((c for c in conclusions if c.support == "supported"), conclusions[0] if conclusions else None)
        if lead is not None:
            summary = summary_line(group.title, self.kb.rules[lead.rule.id].title, len(conclusions) - 1,
                                   bool(cautioned))
        else:
            summary = summary_line(group.title, f"{len(withheld)} conclusion{'s' if len(withheld) != 1 else ''} "
                                   "withheld until the editorial board approves them", 0, False)
        detail = []
        if cautioned:
            detail += [f"> **Caution:** {len(cautioned)} of {len(conclusions)} conclusions on this card rest on "
                       "content the editorial board has not yet approved. Use them with care.", ""]
        if any(c.kind == self.headline for c in conclusions):
            detail += self._measurements(result)
        for kind in group.stages:
            items = [c for c in conclusions if c.kind == kind]
            if items:
                detail += [f"**{escape.markdown(self.titles[kind])}**", ""]
                for c in items:
                    detail += self._conclusion(c, base)
        if withheld:
            detail += [f"*Withheld (production mode):* {len(withheld)} conclusion{'s' if len(withheld) != 1 else ''} "
                       "on this question rest on content the editorial board has not approved; "
                       f"{'they are' if len(withheld) != 1 else 'it is'} counted here, not shown.", ""]
        detail += [f"*{note}*" for note in notes] + ([""] if notes else [])
        cited, seen = [], set()
        for c in conclusions:
            for citation in c.citations:
                if (citation.source, citation.quote) not in seen:
                    seen.add((citation.source, citation.quote))
                    cited.append(citation)
        sources = list(dict.fromkeys(c.source for c in cited)) or list(self.kb.sources)[:1]
        detail += [self._source_line(s) for s in sources]
        card_id = card_uuid(self.kb, self.mode, group.id, [c.code for c in conclusions], withheld_codes)
        card = {
            "uuid": card_id,
            "summary": summary,
            "indicator": indicator(group, conclusions),
            "detail": "\n".join(detail).strip() + "\n",
            "source": {"label": f"{self.kb.meta['name']} release {self.kb.release}",
                       "url": f"{base}/sources/{sources[0]}" if sources else base},
            "overrideReasons": override_reasons(f"{base}/override-reasons"),
        }
        links = [{"label": _link_label(c), "type": "absolute",
                  "url": f"{base}/sources/{c.source}/passages/{passage_id(c.quote)}#passage"} for c in cited]
        if links:
            card["links"] = links
        info = CardInfo(card_id, group.id, tuple(c.code for c in conclusions), len(withheld), self.kb.release,
                        self.mode)
        return card, info

    def render(self, evaluation, base: str, notes: list[str] = ()) -> tuple[list, list]:
        """(cards, their CardInfo) for one evaluation; ``base`` is the service's public URL (links
        point there) and ``notes`` are said on the first card (e.g. which data could not be had)."""
        result = evaluation.document
        held = list(result.summary.withheld_conclusions or [])
        cards, infos, homeless = [], [], []
        for group in self.groups:
            conclusions = [c for c in result.conclusions if c.kind in group.stages]
            withheld = [w for w in held if w.kind in group.stages]
            if not conclusions:
                homeless += withheld
                continue
            card, info = self._card(group, conclusions, withheld, result, base, [] if cards else list(notes))
            cards.append(card)
            infos.append(info)
        if homeless:   # content withheld on questions with nothing to show: one card counts it all
            group = CardGroup("withheld", "DXA interpretation", tuple(dict.fromkeys(w.kind for w in homeless)))
            card, info = self._card(group, [], homeless, result, base, [] if cards else list(notes))
            cards.append(card)
            infos.append(info)
        return cards, infos


def _link_label(citation) -> str:
    quote = citation.quote if len(citation.quote) <= 60 else citation.quote[:57].rsplit(" ", 1)[0] + "…"
    return f"Source, {citation.section}: “{quote}”"


def problem_card(kb, base: str, message: str, mode: str) -> tuple[dict, CardInfo]:
    """The one card for DXA data that could not be read into a case: what was wrong, no conclusions."""
    card_id = card_uuid(kb, mode, "unreadable-data", [], [])
    card = {
        "uuid": card_id,
        "summary": "DXA results on file could not be interpreted",
        "indicator": "info",
        "detail": ("The DXA results in this patient's record could not be read into a case, so no "
                   f"interpretation is offered:\n\n> {escape.markdown(message)}\n"),
        "source": {"label": f"{kb.meta['name']} release {kb.release}"},
        "overrideReasons": override_reasons(f"{base}/override-reasons"),
    }
    return card, CardInfo(card_id, "unreadable-data", (), 0, kb.release, mode)
