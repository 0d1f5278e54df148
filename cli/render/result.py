"""Renderers for result documents: text for a clinician at a terminal, Markdown
for a chart note or ticket, JSON for programs (the contract's document)."""
from __future__ import annotations

import json
import textwrap

from bmdkb.engine import api

from bmdkb.cli.render import escape

WIDTH = 100
INDENT = "      "


def to_json(document) -> str:
    """The document as JSON; the encoder escapes C0 controls, and C1 controls and direction
    overrides (legal raw in JSON) are written as \\u escapes too, so none reaches a terminal."""
    return escape.json_text(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


def wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def reference_label(kb, number: int) -> str:
    ref = kb.references.get(number, {})
    return f"ref {number}" + ("" if ref.get("status") == "resolved" else ": unresolved")


def citation_line(citation: dict, kb) -> str:
    refs = ""
    if citation.get("references"):
        refs = " [" + ", ".join(reference_label(kb, n) for n in citation["references"]) + "]"
    return f"{citation['section']}: “{citation['quote']}”{refs}"


def source_lines(result: dict, kb) -> list[str]:
    """Each cited source once, so the citations below name only section and quote."""
    cited = []
    for c in result["conclusions"]:
        for citation in c["citations"]:
            if citation["source"] not in cited:
                cited.append(citation["source"])
    lines = []
    for source_id in cited:
        meta = kb.sources[source_id].meta
        lines.append(f"Source: “{meta['title']}”, {meta['publisher']}, last updated {meta['last_updated']} "
                     f"(sha256 {meta['sha256'][:12]}…)")
    return lines


def banner(result: dict) -> list[str]:
    lines = []
    cautioned = sum(1 for c in result["conclusions"] if "caution" in c)
    if cautioned:
        lines.append(f"Caution: {cautioned} of {len(result['conclusions'])} conclusions rest on content not yet "
                     "approved by the editorial board. Use them with care.")
    summary = result["summary"]
    if summary["withheld"]:
        rules = {r["id"]: r for w in summary.get("withheld_conclusions", []) for r in w["unapproved_rules"]}
        statuses = sorted({r["status"] for r in rules.values()})
        facts = summary.get("withheld_facts", 0)
        lines.append(f"Approved-only mode: {summary['withheld']} conclusions resting on unapproved content were "
                     f"withheld{f' (and {facts} facts those rules derived)' if facts else ''}. They rest on "
                     f"{len(rules)} rule{'s' if len(rules) != 1 else ''} the editorial board has not approved "
                     f"(status {', '.join(statuses) or 'unknown'}); each is listed under Withheld below.")
    return lines


def _rules_text(withheld: dict) -> str:
    return ", ".join(f"{r['id']} v{r['version']} ({r['status']})" for r in withheld["unapproved_rules"])


def withheld_patterns(result: dict, kind: str) -> list[dict]:
    """The withheld conclusions of stage ``kind`` (the headline stage's: the patterns)."""
    return [w for w in result["summary"].get("withheld_conclusions", []) if w["kind"] == kind]


def no_pattern_lines(result: dict, stage: dict) -> list[str]:
    """What the headline section says when it shows no conclusion: withheld (and why) is not
    absent. Worded with the stage's title ("Pattern")."""
    held = withheld_patterns(result, stage["kind"])
    title = stage["title"]
    if not held:
        return [f"No {title.lower()} concluded for this case."]
    return [f"{title} withheld (approved-only mode): {w['code']} was concluded for this case but is not shown "
            f"because it rests on rules not yet approved: {_rules_text(w)}." for w in held]


def withheld_lines(result: dict) -> list[str]:
    return [f"{w['code']} ({w['kind']}): rests on {_rules_text(w)}"
            for w in result["summary"].get("withheld_conclusions", [])]


def _qualifier(c: dict) -> str:
    return f" ({c['support']})" if c["kind"] == "hypothesis" or c["support"] == "supported" else ""


def statement(c: dict, audience: str) -> str:
    if audience == "patient" and c.get("patient_statement"):
        return c["patient_statement"]
    return c["statement"]


def sections(result: dict, kb):
    """(stage, conclusions) of the shown stages in stage order; the headline stage even when empty."""
    for stage in kb.stages:
        if not stage["shown"]:
            continue
        items = [c for c in result["conclusions"] if c["kind"] == stage["kind"]]
        if items or stage["kind"] == kb.headline_kind:
            yield stage, items


def text(result: dict, kb, audience: str = "clinician", explain=None) -> str:
    result = escape.deep(result, escape.text)  # every string: one piece of one line, no control codes
    if explain is not None:
        explain = (lambda why: lambda c: escape.text(why(c)))(explain)
    kbinfo = result["knowledge_base"]
    out = [f"Case {result['case_id']}  ·  knowledge base {kbinfo['name']} {kbinfo['version']}  ·  mode {result['mode']}"]
    for line in source_lines(result, kb) + banner(result):
        out += wrap(line, "")
    for stage, items in sections(result, kb):
        out += ["", stage["title"].upper()]
        if stage["kind"] == kb.headline_kind:
            out += [f"  {line}" for line in api.adapter_for(kb).summary_lines(result["facts"])]
            if not items:
                for line in no_pattern_lines(result, stage):
                    out += wrap(line, "  ", WIDTH)
        for c in items:
            caution = f"  [{c['caution']}]" if "caution" in c else ""
            out.append(f"  * {c['code']}{_qualifier(c)}{caution}")
            out += wrap(statement(c, audience), INDENT)
            for detail in c.get("details", []):
                out += wrap(f"Recorded: {detail}", INDENT)
            for fig in c.get("reference_figures", []):
                values = ", ".join(f"{k.removesuffix('_pct').replace('_', ' ')} {v}%" for k, v in fig["values"].items())
                out += wrap(f"Reference figures: {values}", INDENT)
            if explain is not None:
                out += wrap(f"Why: {explain(c)}", INDENT)
            for citation in c["citations"]:
                out += wrap(f"Cited: {citation_line(citation, kb)}", INDENT)
    held = withheld_lines(result)
    if held:
        out += ["", "WITHHELD IN APPROVED-ONLY MODE (not approved by the editorial board)"]
        for line in held:
            out += textwrap.wrap(line, width=WIDTH, initial_indent="  * ", subsequent_indent=INDENT,
                                 break_long_words=False, break_on_hyphens=False)
    return "\n".join(out) + "\n"


def markdown(result: dict, kb, audience: str = "clinician", explain=None) -> str:
    facts = escape.deep(result["facts"], escape.text)  # shown in a code block: only control codes matter
    result = escape.deep(result, escape.markdown)     # literal text: no HTML, no links, one line per field
    if explain is not None:
        explain = (lambda why: lambda c: escape.markdown(why(c)))(explain)
    kbinfo = result["knowledge_base"]
    out = [f"## DXA interpretation: case {result['case_id']}", "",
           f"Knowledge base **{kbinfo['name']} {kbinfo['version']}** (`{kbinfo['digest'][:19]}…`), "
           f"mode *{result['mode']}*."]
    out += [""] + [f"{line}  " for line in source_lines(result, kb)]
    for line in banner(result):
        out += ["", f"> **{line}**"]
    for stage, items in sections(result, kb):
        out += ["", f"### {stage['title']}", ""]
        if stage["kind"] == kb.headline_kind:
            out += ["```"] + api.adapter_for(kb).summary_lines(facts) + ["```", ""]
            if not items:
                out += no_pattern_lines(result, stage)
        for c in items:
            caution = f" — *{c['caution']}*" if "caution" in c else ""
            out.append(f"- **{c['code']}**{_qualifier(c)}{caution}: {statement(c, audience)}")
            for detail in c.get("details", []):
                out.append(f"  - Recorded: {detail}")
            if explain is not None:
                out.append(f"  - Why: {explain(c)}")
            for citation in c["citations"]:
                out.append(f"  - Cited: {citation_line(citation, kb)}")
    held = withheld_lines(result)
    if held:
        out += ["", "### Withheld in approved-only mode (not approved by the editorial board)", ""]
        out += [f"- {line}" for line in held]
    return "\n".join(out) + "\n"
