"""Explanation documents (engine/explain/) written for people: plain text for a
terminal (100 columns) and Markdown for a chart note or a review ticket.

Both are made from one outline, a list of indented lines, so they say the same
thing; only the layout differs.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from bmdkb.cli.render import escape
from bmdkb.engine.api import words

WIDTH = 100
MARK = {"satisfied": "✓", "not satisfied": "✗", "unknown": "?"}
LEGEND = "✓ satisfied   ✗ not satisfied   ? unknown: the case does not record what would settle it"


@dataclass
class Line:
    """One line of an explanation outline: its depth, text, condition mark and style."""

    depth: int
    text: str
    mark: str = ""        # ✓ ✗ ? for a condition
    style: str = "item"   # title | meta | heading | item | quote | blank


class _Outline:
    def __init__(self, audience: str, code):
        self.audience = audience
        self.code = code          # how a code, path or rule id is set off (Markdown: backticks)
        self.lines: list[Line] = []
        self.shown_codes: set = set()
        self.sources: dict = {}   # source id -> title, listed once at the end

    def add(self, depth, text, mark="", style="item"):
        self.lines.append(Line(depth, text, mark, style))

    # -- shared pieces -------------------------------------------------------------------------------
    def rule_line(self, rule: dict, verb: str = "Rule", brief: bool = False) -> str:
        text = f"{verb} {self.code(rule['id'])} v{rule['version']} “{rule['title']}”"
        status = rule.get("status_label", rule["status"])
        if brief:
            return f"{text} ({status})"
        text += f", status {status}"
        if rule.get("caution"):
            text += f" ({rule['caution']})"
        return text

    def approvals(self, rule: dict, depth: int):
        if rule.get("approvals"):
            who = "; ".join(a["by"] + (f" on {a['time'][:10]}" if a.get("time") else "") for a in rule["approvals"])
            verb = "Approved by" if rule["status"] == "approved" else "Approvals so far"
            self.add(depth, f"{verb}: {who}")

    def citations(self, citations: list, depth: int):
        for c in citations:
            check = "verified" if c["verified"] else "QUOTE NOT FOUND in the registered source text"
            self.sources[c["source"]] = c["title"]
            where = f"{self.code(c['source'])}, “{c['section']}”"
            self.add(depth, f"“{c['quote']}” ({where}; {check})", style="quote")
            if c.get("problem"):
                self.add(depth + 1, f"Problem: {c['problem']}")
            for ref in c["references"]:
                if ref["status"] == "resolved":
                    self.add(depth + 1, f"Reference {ref['number']}: {ref['citation']}")
                else:
                    self.add(depth + 1, f"Reference {ref['number']}: unresolved: {ref['reason']}")

    def tests(self, tests: list, depth: int):
        for test in tests:
            if "any" in test:
                self.add(depth, "at least one of:", MARK[test["state"]])
                for group in test["any"]:
                    if len(group["tests"]) == 1:
                        self.tests(group["tests"], depth + 1)
                    else:
                        self.add(depth + 1, "all of:", MARK[group["state"]])
                        self.tests(group["tests"], depth + 2)
                continue
            text = test["text"]
            if test["state"] == "unknown" and test.get("missing"):
                inputs = test["missing"]["inputs"]
                if inputs:
                    text += f"; unknown: the case does not record {', '.join(self.code(p) for p in inputs)}"
            self.add(depth, text, MARK[test["state"]])

    def inputs(self, node: dict, depth: int):
        """One line per input fact: its input fields, grouped under their common path."""
        recorded = [e for e in node["inputs"] if e["recorded"]]
        if recorded:
            prefix = _common_prefix([e["path"] for e in recorded]) if len(recorded) > 1 else ""
            if prefix:
                parts = [f"{self.code(e['path'][len(prefix) + 1:])} = {_input_value(e)}" for e in recorded]
                self.add(depth, f"{self.code(prefix)}: {', '.join(parts)}")
            else:
                for e in recorded:
                    self.add(depth, f"{self.code(e['path'])} = {_input_value(e)}")
        for e in node["inputs"]:
            if not e["recorded"]:
                self.add(depth, f"{self.code(e['path'])}: not recorded")

    # -- why -----------------------------------------------------------------------------------------
    def conclusion(self, node: dict, depth: int, head: str, top: bool = False):
        """A conclusion, its rule, what the rule matched (recursively) and its sources.
        The top conclusion is a heading with its body flush under it."""
        code = node["code"]
        self.add(depth, f"{head}{self.code(code)} ({node['kind']}, {node['support']})",
                 style="heading" if top else "item")
        body = depth if top else depth + 1
        if code in self.shown_codes:
            self.add(body, "explained above")
            return
        self.shown_codes.add(code)
        statement = node["statement"].get(self.audience) or node["statement"]["clinician"]
        self.add(body, statement, style="statement")
        for detail in node.get("details", []):
            self.add(body, f"Recorded: {detail}")
        self.add(body, self.rule_line(node["rule"]))
        self.approvals(node["rule"], body)
        self.matches(node["matches"], body)
        self.add(body, "Source:" if len(node["citations"]) == 1 else "Sources:")
        self.citations(node["citations"], body + 1)

    def matches(self, matches: list, depth: int):
        if len(matches) == 1:
            self.add(depth, "It matched:")
            self.conditions(matches[0]["conditions"], depth + 1)
            return
        self.add(depth, f"It matched in {len(matches)} ways:")
        for i, match in enumerate(matches, 1):
            self.add(depth + 1, f"match {i}:")
            self.conditions(match["conditions"], depth + 2)

    def conditions(self, conditions: list, depth: int):
        for cond in conditions:
            self.add(depth, f"{cond['alias']}: {cond['label']}", MARK[cond["state"]])
            self.tests(cond["tests"], depth + 1)
            self.basis(cond["basis"], depth + 1)

    def basis(self, node: dict, depth: int):
        kind = node["node"]
        if kind == "conclusion":
            self.conclusion(node, depth, "which is the conclusion ")
        elif kind == "derived":
            self.add(depth, self.rule_line(node["rule"], "derived by rule", brief=True) + " from:")
            for cond in node["match"]["conditions"]:
                self.add(depth + 1, f"{cond['alias']}: {cond['label']}", MARK[cond["state"]])
                self.tests(cond["tests"], depth + 2)
                self.basis(cond["basis"], depth + 2)
            self.add(depth + 1, "Source:" if len(node["citations"]) == 1 else "Sources:")
            self.citations(node["citations"], depth + 2)
        elif kind == "computed":
            self.add(depth, f"{node['label']}, computed from:")
            for child in node["from"]:
                if child["node"] == "input":
                    self.inputs(child, depth + 1)
                else:
                    self.basis(child, depth + 1)
        else:
            self.add(depth, "from the input:")
            self.inputs(node, depth + 1)

    # -- why not -------------------------------------------------------------------------------------
    def attempt(self, node: dict, depth: int):
        rule = node["rule"]
        what = f"concludes {self.code(node['concludes'])}, {node['support']}" if node.get("concludes") else \
            f"derives {words(node.get('asserts', 'fact'))} facts"
        state = node["state"]
        if node["fired"] and state != "satisfied":  # it fired, but not on the facts needed here
            state += "; it fired on other facts"
        self.add(depth, f"rule {self.code(rule['id'])} v{rule['version']} ({what}): {state}",
                 MARK.get(node["state"], ""))
        if node.get("repeat"):
            self.add(depth + 1, "explained above")
            return
        for pattern in node["patterns"]:
            self.pattern(pattern, depth + 1)

    def pattern(self, node: dict, depth: int):
        alias, state = node["alias"], node["state"]
        if "matched" in node:
            self.add(depth, f"{alias}: {node['matched']['label']}", MARK[state])
            self.tests(node["tests"], depth + 1)
            return
        if node.get("missing"):
            text = f"{alias}: {node['missing']['text']}"
            if node["missing"].get("inputs"):
                text += f" ({', '.join(self.code(p) for p in node['missing']['inputs'])})"
            self.add(depth, text, MARK[state])
        elif len(node["candidates"]) == 1 and not node.get("producers"):  # the one fact of its kind
            cand = node["candidates"][0]
            self.add(depth, f"{alias}: {cand['label']}", MARK[state])
            self.tests(cand["tests"], depth + 1)
            return
        else:
            closest = "the closest is" if len(node["candidates"]) == 1 else "the closest are"
            self.add(depth, f"{alias}: no {words(node['fact_type'])} matches; {closest}:", MARK[state])
        if node.get("required_by_later_rule"):
            self.add(depth + 1, f"(the later rule also needs: {'; '.join(node['required_by_later_rule'])})")
        for cand in node.get("candidates", []):
            self.add(depth + 1, cand["label"], MARK[cand["state"]])
            self.tests(cand["tests"], depth + 2)
        if node.get("truncated"):
            self.add(depth + 1, "(not followed further)")
        producers = node.get("producers", [])
        if producers:
            self.add(depth + 1, "it could have come from:" if len(producers) == 1 else
                     "it could have come from any of:")
            for producer in producers:
                self.attempt(producer, depth + 2)

    # -- the document --------------------------------------------------------------------------------
    def document(self, doc: dict):
        kb = doc["knowledge_base"]
        code = doc["code"]
        self.add(0, f"Explanation for case {doc['case_id']}: {self.code(code)}", style="title")
        self.add(0, f"Knowledge base {kb['name']} {kb['version']}; case file {doc['case_file']}", style="meta")
        if doc["fired"]:
            if doc["asked"] == "why-not":
                self.add(0, f"{self.code(code)} was concluded for this case, so here is why it was.", style="meta")
            self.add(0, "", style="blank")
            self.conclusion(doc["why"], 0, "Why ", top=True)
            rules = doc.get("why_not", {}).get("rules", [])
            if rules:
                self.add(0, "", style="blank")
                self.add(0, f"Rules for {self.code(code)} with stronger support that did not fire", style="heading")
                self.add(0, LEGEND, style="meta")
                for attempt in rules:
                    self.attempt(attempt, 0)
        else:
            rules = doc["why_not"]["rules"]
            self.add(0, f"{self.code(code)} was not concluded for this case. "
                        f"{_count(len(rules), 'rule')} could have concluded it.", style="meta")
            self.add(0, LEGEND, style="meta")
            self.add(0, "", style="blank")
            self.add(0, f"Why not {self.code(code)}", style="heading")
            for attempt in rules:
                self.attempt(attempt, 0)
        if self.sources:
            self.add(0, "", style="blank")
            for source, title in sorted(self.sources.items()):
                self.add(0, f"Source {self.code(source)}: {title}. Quotes marked verified were found "
                            "verbatim in its registered text.", style="meta")


def _input_value(entry: dict) -> str:
    return entry["shown"] + (f" (read as {entry['read_as']})" if entry.get("read_as") else "")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _common_prefix(paths: list[str]) -> str:
    split = [p.split(".") for p in paths]
    common = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    # keep at least one segment after the prefix for every path
    while common and any(len(s) <= len(common) for s in split):
        common.pop()
    return ".".join(common)


def outline(doc: dict, audience: str = "clinician", code=lambda s: s) -> list[Line]:
    """An explanation document as outline lines for one audience; ``code`` formats codes."""
    o = _Outline(audience, code)
    o.document(doc)
    return o.lines


def text(doc: dict, audience: str = "clinician") -> str:
    """An explanation document as wrapped plain text for one audience."""
    out = []
    for line in outline(escape.deep(doc, escape.text), audience):
        if line.style == "blank":
            out.append("")
            continue
        indent = "  " * line.depth
        head = f"{indent}{line.mark} " if line.mark else indent
        out += textwrap.wrap(line.text, width=WIDTH, initial_indent=head, subsequent_indent=" " * len(head) + "  ",
                             break_long_words=True, break_on_hyphens=False) or [head.rstrip()]
        if line.style == "title":
            out.append("=" * min(WIDTH, len(out[-1])))
    return "\n".join(out) + "\n"


_CODE_START, _CODE_END = "\x00", "\x01"  # cannot occur in a text-escaped string


def _markdown_line(text: str) -> str:
    """Escape a line built from the outline: literal text outside code spans, code spans inside."""
    pieces = []
    for n, part in enumerate(text.split(_CODE_START)):
        code, _, rest = part.partition(_CODE_END) if n else ("", "", part)
        if n:
            pieces.append(escape.code(code))
        pieces.append(escape.markdown(rest))
    return "".join(pieces)


def markdown(doc: dict, audience: str = "clinician") -> str:
    """An explanation document as Markdown for one audience."""
    out = []
    for line in outline(escape.deep(doc, escape.text), audience, code=lambda s: f"{_CODE_START}{s}{_CODE_END}"):
        line = Line(line.depth, _markdown_line(line.text), line.mark, line.style)
        mark = f"{line.mark} " if line.mark else ""
        if line.style == "title":
            out += [f"### {line.text}", ""]
        elif line.style == "meta":
            out += [line.text, ""]
        elif line.style == "blank":
            if out and out[-1] != "":
                out.append("")
        elif line.style == "heading" and line.depth == 0:
            out += [f"**{line.text}**", ""]
        elif line.style == "quote":
            out.append(f"{'  ' * line.depth}- {mark}> {line.text}")
        elif line.style == "statement":
            out.append(f"{'  ' * line.depth}- *{line.text}*")
        else:
            out.append(f"{'  ' * line.depth}- {mark}{line.text}")
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
