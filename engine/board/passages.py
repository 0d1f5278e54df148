"""A citation's quote shown where it stands in the registered source text: the paragraph (or
paragraphs) holding it, with the quote marked. The quote is looked for first after its section's
heading, then anywhere (citations verify only when it is there verbatim, engine/kb/citations.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass

CONTEXT = 400          # characters of a very long paragraph kept either side of the quote
_BREAK = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Passage:
    """The text around a quote: ``before`` + ``quote`` (to be highlighted) + ``after``; ``found``
    is False when the quote is not in the source (then only the quote is given)."""

    before: str
    quote: str
    after: str
    found: bool


def _start(text: str, quote: str, section: str | None) -> int:
    if section:
        heading = re.search(rf"(?m)^\s*{re.escape(section)}\s*$", text)
        if heading:
            at = text.find(quote, heading.end())
            if at >= 0:
                return at
    return text.find(quote)


def passage(text: str, quote: str, section: str | None = None) -> Passage:
    """The paragraphs of ``text`` that hold ``quote``, split around it."""
    at = _start(text, quote, section) if quote else -1
    if at < 0:
        return Passage("", quote, "", False)
    end = at + len(quote)
    breaks = [m for m in _BREAK.finditer(text)]
    first = max([m.end() for m in breaks if m.end() <= at], default=0)
    last = min([m.start() for m in breaks if m.start() >= end], default=len(text))
    first, last = max(first, at - CONTEXT), min(last, end + CONTEXT)
    before, after = text[first:at], text[end:last]
    if first > 0 and before and not text[first - 1].isspace():
        before = "… " + before.lstrip()
    if last < len(text) and after and not text[last].isspace():
        after = after.rstrip() + " …"
    return Passage(before, quote, after, True)
