"""Renderers for result documents: text for a clinician at a terminal, Markdown
for a chart note or ticket, JSON for programs (the contract's document)."""
from __future__ import annotations

import json
import textwrap

WIDTH = 100
SITE_NAMES = {"lumbar_spine": "Lumbar spine", "total_hip": "Total hip", "femoral_neck": "Femoral neck"}


def to_json(document) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def citation_line(citation: dict, kb) -> str:
    source = kb.sources.get(citation["source"])
    title = source.meta["title"] if source else citation["source"]
    refs = ""
    if citation.get("references"):
        refs = " [" + ", ".join(reference_label(kb, n) for n in citation["references"]) + "]"
    return f"“{citation['quote']}” ({title}, {citation['section']}){refs}"


def reference_label(kb, number: int) -> str:
    ref = kb.references.get(number, {})
    return f"ref {number}" + ("" if ref.get("status") == "resolved" else ": unresolved")


def _change_lines(result: dict) -> list[str]:
    """The most recent interval's per-site changes, in the case's own units."""
    lines = []
    for fact in result["facts"]:
        if fact["type"] != "site_change" or fact.get("recency") != 0:
            continue
        name = SITE_NAMES.get(fact["site"], fact["site"])
        if "delta_g_cm2" not in fact:
            lines.append(f"{name}: no BMD in g/cm2 on both scans")
            continue
        text = f"{name}: {fact['delta_g_cm2']:+.3f} g/cm2 ({fact['percent_change']:+.1f}%)"
        if "lsc_g_cm2" in fact:
            text += f", {fact['change_in_lsc']:+.2f} x LSC {fact['lsc_g_cm2']:.3f}"
        else:
            text += ", no facility LSC"
        if not fact.get("comparable", True):
            text += f"; not comparable: {fact.get('not_comparable_because', '')}"
        lines.append(text)
    return lines


def _conclusion_head(c: dict) -> str:
    head = c["code"]
    if c["kind"] in ("hypothesis",) or c["support"] == "supported":
        head += f" ({c['support']})"
    if "caution" in c:
        head += f"  [{c['caution']}]"
    return head


def _statement(c: dict, audience: str) -> str:
    return c.get("patient_statement") if audience == "patient" and c.get("patient_statement") else c["statement"]


def _banner(result: dict) -> list[str]:
    lines = []
    cautioned = sum(1 for c in result["conclusions"] if "caution" in c)
    if cautioned:
        lines.append(f"Caution: {cautioned} of {len(result['conclusions'])} conclusions come from content not yet "
                     "approved by the editorial board. Use them with care.")
    if result["summary"]["withheld"]:
        lines.append(f"Approved-only mode: {result['summary']['withheld']} conclusions from unapproved content "
                     "were withheld.")
    return lines


def text(result: dict, kb, audience: str = "clinician", explain=None) -> str:
    kbinfo = result["knowledge_base"]
    out = [f"Case {result['case_id']}  ·  knowledge base {kbinfo['name']} {kbinfo['version']}  ·  mode {result['mode']}"]
    for line in _banner(result):
        out += _wrap(line, "")
    changes = _change_lines(result)
    if changes:
        out += ["", "Most recent interval"] + [f"  {line}" for line in changes]
    if not result["conclusions"]:
        out += ["", "No conclusions: none of the rules applies to this case."]
    for stage in kb.stages:
        items = [c for c in result["conclusions"] if c["kind"] == stage["kind"]]
        if not items:
            continue
        out += ["", stage["title"].upper()]
        for c in items:
            out.append(f"  * {_conclusion_head(c)}")
            out += _wrap(_statement(c, audience), "      ")
            for detail in c.get("details", []):
                out += _wrap(f"Recorded: {detail}", "      ")
            for fig in c.get("reference_figures", []):
                values = ", ".join(f"{k.replace('_pct', '').replace('_', ' ')} {v}%" for k, v in fig["values"].items())
                out += _wrap(f"Reference figures: {values}", "      ")
            if explain is not None:
                out += _wrap(f"Why: {explain(c)}", "      ")
            for citation in c["citations"]:
                out += _wrap(f"Source: {citation_line(citation, kb)}", "      ")
    return "\n".join(out) + "\n"


def markdown(result: dict, kb, audience: str = "clinician", explain=None) -> str:
    kbinfo = result["knowledge_base"]
    out = [f"## DXA interpretation: case {result['case_id']}", "",
           f"Knowledge base **{kbinfo['name']} {kbinfo['version']}** (`{kbinfo['digest'][:19]}…`), mode *{result['mode']}*."]
    for line in _banner(result):
        out += ["", f"> **{line}**"]
    changes = _change_lines(result)
    if changes:
        out += ["", "**Most recent interval**", ""] + [f"- {line}" for line in changes]
    if not result["conclusions"]:
        out += ["", "No conclusions: none of the rules applies to this case."]
    for stage in kb.stages:
        items = [c for c in result["conclusions"] if c["kind"] == stage["kind"]]
        if not items:
            continue
        out += ["", f"### {stage['title']}", ""]
        for c in items:
            caution = f" — *{c['caution']}*" if "caution" in c else ""
            support = f" ({c['support']})" if c["kind"] == "hypothesis" or c["support"] == "supported" else ""
            out.append(f"- **{c['code']}**{support}{caution}: {_statement(c, audience)}")
            for detail in c.get("details", []):
                out.append(f"  - Recorded: {detail}")
            if explain is not None:
                out.append(f"  - Why: {explain(c)}")
            for citation in c["citations"]:
                out.append(f"  - Source: {citation_line(citation, kb)}")
    return "\n".join(out) + "\n"
