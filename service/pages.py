"""The pages a card links to: a registered source's text, served by the service itself, with the
cited passage highlighted.

Only passages the knowledge base cites can be highlighted: a passage is named by a short digest
of its quote (``passage_id``), looked up in the citations of the rules and published figures, so
a link can neither be forged to highlight arbitrary text nor carry any text of its own. The page
is the registered text as it is (the bytes citations are checked against), HTML-escaped, under a
Content-Security-Policy that allows no script and no remote content.
"""
from __future__ import annotations

import functools
import hashlib
import html
from dataclasses import dataclass

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors *"
_STYLE = ("body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;color:#222}"
          "pre{white-space:pre-wrap;font:inherit}mark{background:#ffe066;padding:0 .1em}"
          "header{border-bottom:1px solid #ccc;margin-bottom:1em}.meta{color:#555;font-size:90%}")


@functools.lru_cache(maxsize=4096)   # the knowledge base cites a few hundred passages at most
def passage_id(quote: str) -> str:
    """The name of a cited passage in a link: the first 16 hex digits of its quote's SHA-256."""
    return hashlib.sha256(quote.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Passage:
    """A cited passage: its source, section and verbatim quote."""

    source: str
    section: str
    quote: str


def passages(kb) -> dict:
    """(source id, passage id) -> Passage, for every citation of the rules and published figures."""
    out = {}
    cited = [c for rule in kb.rules.values() for c in rule.citations]
    for entry in kb.facts.values():
        cited += entry.get("citations", [])
    for citation in cited:
        source, section, quote = ((citation["source"], citation["section"], citation["quote"])
                                  if isinstance(citation, dict) else
                                  (citation.source, citation.section, citation.quote))
        out.setdefault((source, passage_id(quote)), Passage(source, section, quote))
    return out


def source_page(kb, source_id: str, passage: Passage | None = None) -> str:
    """The HTML page of a registered source, with ``passage`` (its first occurrence) highlighted."""
    source = kb.sources[source_id]
    meta = source.meta
    text = source.text
    if passage is not None and passage.quote in text:
        start = text.index(passage.quote)
        end = start + len(passage.quote)
        body = (html.escape(text[:start]) + '<mark id="passage">' + html.escape(text[start:end]) + "</mark>"
                + html.escape(text[end:]))
        cited = (f'<p class="meta">Cited passage ({html.escape(passage.section)}) highlighted below; '
                 '<a href="#passage">go to it</a>.</p>')
    else:
        body, cited = html.escape(text), ""
    title = html.escape(str(meta.get("title", source_id)))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body><header><h1>{title}</h1>"
        f"<p class=\"meta\">{html.escape(str(meta.get('publisher', '')))}, last updated "
        f"{html.escape(str(meta.get('last_updated', '')))}. The registered text (sha256 "
        f"{html.escape(str(meta.get('sha256', '')))}) that the citations of knowledge base "
        f"{html.escape(kb.meta['name'])} release {html.escape(kb.release)} are checked against.</p>"
        f"{cited}</header><pre>{body}</pre></body></html>\n"
    )
