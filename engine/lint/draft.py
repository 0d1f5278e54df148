"""A tolerant reading of a knowledge base, for lint.

``knowledge_base.load`` refuses a knowledge base with any problem, as evaluation
must. Lint has to report on exactly such a knowledge base, so this reads the same
files the same way but keeps going: a file that does not parse or validate is
left out and recorded as a finding, and what does load is assembled into a
(possibly partial) KnowledgeBase the checks can reason about. Citations are not
checked here; each citation check does that on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import schemas
from ..conditions import ConditionError, parse_when
from ..errors import KnowledgeBaseError, Problem
from ..knowledge_base import (Citation, KnowledgeBase, Rule, Source, canonical_digest, content_digest, rule_digest,
                              sha256_bytes)
from ..yamlio import load_file

@dataclass
class CitationSite:
    """One citation as written, where it is, and what it backs."""

    file: str
    field: str           # e.g. citations[1] or parameters[0].provenance.citations[0]
    raw: dict
    owner: str           # rule id, parameter id, fact id or file

    @property
    def citation(self) -> Citation:
        return Citation(self.raw["source"], self.raw["section"], self.raw["quote"], self.raw.get("references", []))


@dataclass
class Draft:
    root: Path
    kb: KnowledgeBase
    found: list = field(default_factory=list)        # (check id, Problem) found while reading
    documents: dict = field(default_factory=dict)    # relative path -> parsed, valid document
    citations: list = field(default_factory=list)    # CitationSite
    parameter_files: dict = field(default_factory=dict)  # parameter id -> (file, index)
    contract: list = field(default_factory=list)     # [{code, kind}] the conclusions contract promises

    def add(self, check: str, file: str, field_: str, message: str) -> None:
        self.found.append((check, Problem(file, field_, message)))


class _Reader:
    def __init__(self, root: Path, draft: Draft):
        self.root, self.draft, self.files = root, draft, {}

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def read(self, path: Path, schema: str | None, required: bool = True):
        rel = self.rel(path)
        if not path.is_file():
            if required:
                self.draft.add("schema", rel, "", "no such file")
            return None
        try:
            self.files[rel] = sha256_bytes(path.read_bytes())
            data = load_file(path, KnowledgeBaseError, rel)
        except KnowledgeBaseError as exc:
            self.draft.found.extend(("schema", p) for p in exc.problems)
            return None
        found = schemas.problems(schema, data, rel) if schema else []
        if found:
            self.draft.found.extend(("schema", p) for p in found)
            return None
        self.draft.documents[rel] = data
        return data


def read(root) -> Draft:
    """Read whatever of the knowledge base at ``root`` can be read; never raises for its content."""
    root = Path(root)
    draft = Draft(root, None)
    r = _Reader(root, draft)
    kdir, pdir = root / "knowledge", root / "provenance"

    meta = r.read(kdir / "kb.yaml", "kb") or {"release": "0.0.0", "stages": [], "name": "?"}
    fact_types = (r.read(kdir / "fact-types.yaml", "fact-types") or {}).get("fact_types", {})

    params_file = "knowledge/facts/parameters.yaml"
    params_doc = r.read(kdir / "facts" / "parameters.yaml", "parameters") or {}
    parameters = {}
    for i, p in enumerate(params_doc.get("parameters", [])):
        if p["id"] in parameters:
            draft.add("duplicate-id", params_file, f"parameters[{i}].id", f"duplicate parameter id {p['id']!r}")
            continue
        parameters[p["id"]] = p
        draft.parameter_files[p["id"]] = (params_file, i)
        for j, c in enumerate(p["provenance"].get("citations", [])):
            draft.citations.append(CitationSite(params_file, f"parameters[{i}].provenance.citations[{j}]", c, p["id"]))

    facts, fact_files = {}, {}
    for path in sorted((kdir / "facts").glob("*.yaml")):
        if path.name in ("parameters.yaml", "treatment-classes.yaml"):
            continue
        doc = r.read(path, "facts")
        rel = r.rel(path)
        for i, item in enumerate((doc or {}).get("facts", [])):
            if item["id"] in facts:
                draft.add("duplicate-id", rel, f"facts[{i}].id",
                          f"duplicate fact id {item['id']!r} (also in {fact_files[item['id']]})")
                continue
            facts[item["id"]], fact_files[item["id"]] = item, rel
            for j, c in enumerate(item["citations"]):
                draft.citations.append(CitationSite(rel, f"facts[{i}].citations[{j}]", c, item["id"]))

    classes_file = "knowledge/facts/treatment-classes.yaml"
    classes_doc = r.read(kdir / "facts" / "treatment-classes.yaml", "treatment-classes") or {}
    for j, c in enumerate(classes_doc.get("citations", [])):
        draft.citations.append(CitationSite(classes_file, f"citations[{j}]", c, classes_file))
    for j, c in enumerate(classes_doc.get("provenance", {}).get("citations", [])):
        draft.citations.append(CitationSite(classes_file, f"provenance.citations[{j}]", c, classes_file))

    coverage = r.read(kdir / "coverage.yaml", "coverage") or {}
    policy = r.read(kdir / "policy.yaml", "policy", required=False) or {}
    sources = _sources(r, pdir / "sources")
    references = {}
    refs_doc = r.read(pdir / "references.yaml", "references", required=False) or {}
    for i, ref in enumerate(refs_doc.get("references", [])):
        if ref["number"] in references:
            draft.add("duplicate-id", "provenance/references.yaml", f"references[{i}].number",
                      f"duplicate reference number {ref['number']}")
            continue
        references[ref["number"]] = ref

    kb = KnowledgeBase(root=root, meta=meta, stages=meta.get("stages", []), fact_types=fact_types,
                       parameters=parameters, facts=facts, treatment_classes=classes_doc.get("classes", {}),
                       rules={}, sources=sources, references=references, coverage=coverage, policy=policy,
                       files=r.files)
    draft.kb = kb
    rules = _rules(r, kdir / "rules", {k: v["value"] for k, v in parameters.items()})
    kb.rules = dict(sorted(rules.items(), key=lambda kv: (kb.stage_index(kv[1].kind), kv[0])))
    _structure(draft)
    for rule in kb.rules.values():
        try:
            rule.digest = rule_digest(kb, rule)
        except KeyError:   # uses a fact that is missing: reported by rule-structure
            rule.digest = ""
    kb.digest = content_digest(kb.files)
    return draft


def _sources(r: _Reader, folder: Path) -> dict:
    sources = {}
    for path in sorted(folder.glob("*.yaml")):
        meta = r.read(path, "source")
        if not meta:
            continue
        rel = r.rel(path)
        text_path = path.parent / meta["text_file"]
        try:
            raw = text_path.read_bytes()
        except OSError:
            r.draft.add("source-text-mismatch", rel, "text_file", f"registered text {meta['text_file']!r} is missing")
            continue
        r.files[r.rel(text_path)] = sha256_bytes(raw)
        if sha256_bytes(raw) != meta["sha256"]:
            r.draft.add("source-text-mismatch", rel, "sha256",
                        f"the text file's sha256 is {sha256_bytes(raw)}, not the registered {meta['sha256']}")
            continue
        sources[meta["id"]] = Source(meta["id"], meta, raw.decode("utf-8"), rel)
    return sources


def _rules(r: _Reader, folder: Path, param_values: dict) -> dict:
    rules = {}
    for path in sorted(folder.rglob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        rel = r.rel(path)
        data = r.read(path, "rule")
        if not data:
            continue
        if data["id"] in rules:
            r.draft.add("duplicate-id", rel, "id", f"duplicate rule id {data['id']!r} (also in {rules[data['id']].file})")
            continue
        if path.stem != data["id"]:
            r.draft.add("rule-structure", rel, "id", f"rule id {data['id']!r} does not match the file name {path.name!r}")
        try:
            patterns = parse_when(data["when"], param_values)
        except ConditionError as exc:
            r.draft.add("rule-structure", rel, exc.field, str(exc))
            continue
        rules[data["id"]] = Rule(
            id=data["id"], version=data["version"], title=data["title"], kind=data["kind"], author=data["author"],
            patterns=patterns, then=data["then"], statement=data["statement"],
            citations=[Citation(x["source"], x["section"], x["quote"], x.get("references", [])) for x in data["citations"]],
            uses=data.get("uses", []), file=rel, data=data)
        for j, c in enumerate(data["citations"]):
            r.draft.citations.append(CitationSite(rel, f"citations[{j}]", c, data["id"]))
    return rules


def _structure(draft: Draft) -> None:
    """What load() checks inside a rule besides fact types (lint's chain checks own those)."""
    kb = draft.kb
    kinds = [s["kind"] for s in kb.stages]
    for rule in kb.rules.values():
        if rule.kind not in kinds:
            draft.add("rule-structure", rule.file, "kind", f"unknown stage {rule.kind!r} (stages: {', '.join(kinds)})")
        aliases = [p.alias for p in rule.patterns]
        for i, pattern in enumerate(rule.patterns):
            if aliases.count(pattern.alias) > 1:
                draft.add("rule-structure", rule.file, f"when[{i}].as",
                          f"alias {pattern.alias!r} is used twice; give each pattern its own `as`")
        branch = "conclude" if "conclude" in rule.then else "assert"
        for key in ("details_from", "from"):
            if key in rule.then[branch] and rule.then[branch][key] not in aliases:
                draft.add("rule-structure", rule.file, f"then.{branch}.{key}",
                          f"no pattern is aliased {rule.then[branch][key]!r} (aliases: {', '.join(aliases)})")
        if rule.concludes and "patient" not in rule.statement:
            draft.add("rule-structure", rule.file, "statement.patient",
                      "a rule that concludes needs a patient-language statement")
        for i, fact_id in enumerate(rule.uses):
            if fact_id not in kb.facts:
                draft.add("rule-structure", rule.file, f"uses[{i}]", f"no knowledge-base fact {fact_id!r}")


def document_digest(data) -> str:
    """Digest of a parsed document: comments and layout are not content."""
    return canonical_digest(data)
