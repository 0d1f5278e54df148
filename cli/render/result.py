"""Renderers for results: text for a clinician at a terminal, Markdown for a chart note or
ticket (both read the typed result, engine/run/document.py), JSON for programs (the
contract's document, as the engine serialises it)."""
from __future__ import annotations

import textwrap

import dataclasses

from bmdkb.engine.api import adapter_for, document as result_document, fastjson
from bmdkb.cli.render import escape

WIDTH = 100
INDENT = "      "


def to_json(document) -> str:
    """The document as JSON; the encoder escapes C0 controls, and C1 controls and direction
    overrides (legal raw in JSON) are written as \\u escapes too, so none reaches a terminal."""
    return escape.json_text(fastjson.indented(document)) + "\n"   # what json writes with indent=2


def _deep(value, helper):
    """escape.deep, reaching into the typed result's dataclasses too."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value)(**{f.name: _deep(getattr(value, f.name), helper) for f in dataclasses.fields(value)})
    if isinstance(value, str):
        return helper(value)
    if isinstance(value, dict):
        return {key: _deep(item, helper) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deep(item, helper) for item in value]
    return value


def escaped(result, helper):
    """A copy of a typed result with ``helper`` applied to every string in it (as escape.deep does
    for a JSON-like document); its facts become their documents (what summary_lines reads)."""
    facts = [result_document.fact_to_dict(f) for f in result.facts]
    return dataclasses.replace(_deep(dataclasses.replace(result, facts=[]), helper), facts=_deep(facts, helper))


def wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    """``text`` wrapped to ``width``, every line indented (one indented empty line for no text)."""
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def reference_label(kb, number: int) -> str:
    """How a citation names a numbered reference of the article, and whether it is resolved."""
    ref = kb.references.get(number, {})
    return f"ref {number}" + ("" if ref.get("status") == "resolved" else ": unresolved")


def citation_line(citation, kb) -> str:
    """A citation in one line: section, quoted passage and the article's references it gives."""
    refs = ""
    if citation.references:
        refs = " [" + ", ".join(reference_label(kb, n) for n in citation.references) + "]"
    return f"{citation.section}: “{citation.quote}”{refs}"


def source_lines(result, kb) -> list[str]:
    """Each cited source once, so the citations below name only section and quote."""
    cited = []
    for c in result.conclusions:
        for citation in c.citations:
            if citation.source not in cited:
                cited.append(citation.source)
    lines = []
    for source_id in cited:
        meta = kb.sources[source_id].meta
        lines.append(f"Source: “{meta['title']}”, {meta['publisher']}, last updated {meta['last_updated']} "
                     f"(sha256 {meta['sha256'][:12]}…)")
    return lines


def banner(result) -> list[str]:
    """The cautions above the conclusions: content not yet approved, and what approved-only mode withheld."""
    lines = []
    cautioned = sum(1 for c in result.conclusions if c.caution is not None)
    if cautioned:
        lines.append(f"Caution: {cautioned} of {len(result.conclusions)} conclusions rest on content not yet "
                     "approved by the editorial board. Use them with care.")
    summary = result.summary
    if summary.withheld:
        rules = {r.id: r for w in summary.withheld_conclusions or [] for r in w.unapproved_rules}
        statuses = sorted({r.status for r in rules.values()})
        facts = summary.withheld_facts or 0
        lines.append(f"Approved-only mode: {summary.withheld} conclusions resting on unapproved content were "
                     f"withheld{f' (and {facts} facts those rules derived)' if facts else ''}. They rest on "
                     f"{len(rules)} rule{'s' if len(rules) != 1 else ''} the editorial board has not approved "
                     f"(status {', '.join(statuses) or 'unknown'}); each is listed under Withheld below.")
    return lines


def _rules_text(withheld) -> str:
    return ", ".join(f"{r.id} v{r.version} ({r.status})" for r in withheld.unapproved_rules)


def withheld_patterns(result, kind: str) -> list:
    """The withheld conclusions of stage ``kind`` (the headline stage's: the patterns)."""
    return [w for w in result.summary.withheld_conclusions or [] if w.kind == kind]


def no_pattern_lines(result, stage: dict) -> list[str]:
    """What the headline section says when it shows no conclusion: withheld (and why) is not
    absent. Worded with the stage's title ("Pattern")."""
    held = withheld_patterns(result, stage["kind"])
    title = stage["title"]
    if not held:
        return [f"No {title.lower()} concluded for this case."]
    return [f"{title} withheld (approved-only mode): {w.code} was concluded for this case but is not shown "
            f"because it rests on rules not yet approved: {_rules_text(w)}." for w in held]


def withheld_lines(result) -> list[str]:
    """One line per withheld conclusion: code, kind and the unapproved rules it rests on."""
    return [f"{w.code} ({w.kind}): rests on {_rules_text(w)}" for w in result.summary.withheld_conclusions or []]


def _qualifier(c) -> str:
    return f" ({c.support})" if c.kind == "hypothesis" or c.support == "supported" else ""


def statement(c, audience: str) -> str:
    """The conclusion's wording for ``audience`` (the clinician's when it has no patient wording)."""
    if audience == "patient" and c.patient_statement:
        return c.patient_statement
    return c.statement


def sections(result, kb):
    """(stage, conclusions) of the shown stages in stage order; the headline stage even when empty."""
    for stage in kb.stages:
        if not stage["shown"]:
            continue
        items = [c for c in result.conclusions if c.kind == stage["kind"]]
        if items or stage["kind"] == kb.headline_kind:
            yield stage, items


def input_lines(input_info) -> list[str]:
    """How a case read from another format (FHIR) was read: its notes, then what was not mapped."""
    if not input_info:
        return []
    return [f"note: {n}" for n in input_info.get("notes", [])] + \
        [f"not mapped: {u}" for u in input_info.get("unmapped", [])]


def text(result, kb, audience: str = "clinician", explain=None, input_info=None) -> str:
    """The result as a terminal report; ``explain(conclusion)`` adds each conclusion's short why;
    ``input_info`` (a FHIR input's notes and unmapped codes) is listed at the end."""
    result = escaped(result, escape.text)  # every string: one piece of one line, no control codes
    if explain is not None:
        explain = (lambda why: lambda c: escape.text(why(c)))(explain)
    kbinfo = result.knowledge_base
    out = [f"Case {result.case_id}  ·  knowledge base {kbinfo.name} {kbinfo.version}  ·  mode {result.mode}"]
    for line in source_lines(result, kb) + banner(result):
        out += wrap(line, "")
    for stage, items in sections(result, kb):
        out += ["", stage["title"].upper()]
        if stage["kind"] == kb.headline_kind:
            out += [f"  {line}" for line in adapter_for(kb).summary_lines(result.facts)]
            if not items:
                for line in no_pattern_lines(result, stage):
                    out += wrap(line, "  ", WIDTH)
        for c in items:
            caution = f"  [{c.caution}]" if c.caution is not None else ""
            out.append(f"  * {c.code}{_qualifier(c)}{caution}")
            out += wrap(statement(c, audience), INDENT)
            for detail in c.details:
                out += wrap(f"Recorded: {detail}", INDENT)
            for fig in c.reference_figures:
                values = ", ".join(f"{k.removesuffix('_pct').replace('_', ' ')} {v}%" for k, v in fig.values.items())
                out += wrap(f"Reference figures: {values}", INDENT)
            if explain is not None:
                out += wrap(f"Why: {explain(c)}", INDENT)
            for citation in c.citations:
                out += wrap(f"Cited: {citation_line(citation, kb)}", INDENT)
    held = withheld_lines(result)
    if held:
        out += ["", "WITHHELD IN APPROVED-ONLY MODE (not approved by the editorial board)"]
        for line in held:
            out += textwrap.wrap(line, width=WIDTH, initial_indent="  * ", subsequent_indent=INDENT,
                                 break_long_words=False, break_on_hyphens=False)
    lines = input_lines(input_info)
    if lines:
        out += ["", f"READ FROM {input_info.get('format', 'input').upper()}"]
        for line in lines:
            out += textwrap.wrap(escape.text(line), width=WIDTH, initial_indent="  * ", subsequent_indent=INDENT,
                                 break_long_words=True, break_on_hyphens=False)
    return "\n".join(out) + "\n"


def markdown(result, kb, audience: str = "clinician", explain=None, input_info=None) -> str:
    """The result as Markdown; ``explain(conclusion)`` adds each conclusion's short why;
    ``input_info`` (a FHIR input's notes and unmapped codes) is listed at the end."""
    facts = escaped(result, escape.text).facts  # shown in a code block: only control codes matter
    result = escaped(result, escape.markdown)     # literal text: no HTML, no links, one line per field
    if explain is not None:
        explain = (lambda why: lambda c: escape.markdown(why(c)))(explain)
    kbinfo = result.knowledge_base
    out = [f"## DXA interpretation: case {result.case_id}", "",
           f"Knowledge base **{kbinfo.name} {kbinfo.version}** (`{kbinfo.digest[:19]}…`), "
           f"mode *{result.mode}*."]
    out += [""] + [f"{line}  " for line in source_lines(result, kb)]
    for line in banner(result):
        out += ["", f"> **{line}**"]
    for stage, items in sections(result, kb):
        out += ["", f"### {stage['title']}", ""]
        if stage["kind"] == kb.headline_kind:
            out += ["```"] + adapter_for(kb).summary_lines(facts) + ["```", ""]
            if not items:
                out += no_pattern_lines(result, stage)
        for c in items:
            caution = f" — *{c.caution}*" if c.caution is not None else ""
            out.append(f"- **{c.code}**{_qualifier(c)}{caution}: {statement(c, audience)}")
            for detail in c.details:
                out.append(f"  - Recorded: {detail}")
            if explain is not None:
                out.append(f"  - Why: {explain(c)}")
            for citation in c.citations:
                out.append(f"  - Cited: {citation_line(citation, kb)}")
    held = withheld_lines(result)
    if held:
        out += ["", "### Withheld in approved-only mode (not approved by the editorial board)", ""]
        out += [f"- {line}" for line in held]
    lines = input_lines(input_info)
    if lines:
        out += ["", f"### Read from {input_info.get('format', 'input')}", ""]
        out += [f"- {escape.markdown(line)}" for line in lines]
    return "\n".join(out) + "\n"
