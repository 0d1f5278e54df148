"""Load a knowledge-base root (knowledge/ + provenance/), validate every file,
verify every citation against its registered source, and digest the content."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import schemas
from .conditions import ConditionError, Pattern, parameters_used, parse_when
from .errors import KnowledgeBaseError, Problem
from .yamlio import load_file

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "BMDKB_KB"


def default_root() -> Path:
    """The knowledge base shipped with bmdkb, unless $BMDKB_KB names another."""
    return Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else PACKAGE_ROOT


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + sha256_bytes(text.encode("utf-8"))


@dataclass
class Citation:
    source: str
    section: str
    quote: str
    references: list = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {"source": self.source, "section": self.section, "quote": self.quote}
        if self.references:
            out["references"] = list(self.references)
        return out


@dataclass
class Rule:
    id: str
    version: int
    title: str
    kind: str
    author: str
    patterns: tuple  # of conditions.Pattern
    then: dict
    statement: dict
    citations: list
    uses: list
    file: str
    data: dict
    digest: str = ""

    @property
    def concludes(self) -> str | None:
        return self.then.get("conclude", {}).get("code")

    @property
    def support(self) -> str:
        return self.then.get("conclude", {}).get("support", "considered")

    @property
    def asserts(self) -> str | None:
        return self.then.get("assert", {}).get("type")

    @property
    def parameters(self) -> list[str]:
        return parameters_used(self.patterns)

    def pattern(self, alias: str) -> Pattern | None:
        return next((p for p in self.patterns if p.alias == alias), None)


@dataclass
class Source:
    id: str
    meta: dict
    text: str
    file: str


@dataclass
class KnowledgeBase:
    root: Path
    meta: dict
    stages: list
    fact_types: dict
    parameters: dict       # id -> entry (value, unit, description, provenance)
    facts: dict            # id -> entry (description, values, citations)
    treatment_classes: dict
    rules: dict            # id -> Rule, in stage order then id
    sources: dict          # id -> Source
    references: dict       # number -> entry
    coverage: dict
    policy: dict
    files: dict            # relative path -> sha256 of the bytes
    digest: str = ""

    @property
    def release(self) -> str:
        return self.meta["release"]

    def stage_index(self, kind: str) -> int:
        kinds = [s["kind"] for s in self.stages]
        return kinds.index(kind) if kind in kinds else len(kinds)

    def rules_concluding(self, code: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.concludes == code]

    def codes(self) -> list[str]:
        return sorted({r.concludes for r in self.rules.values() if r.concludes})


class _Collector:
    """Gathers problems across all files so one run reports them all."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []
        self.files: dict[str, str] = {}

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def load(self, path: Path, schema: str | None):
        rel = self.rel(path)
        try:
            self.files[rel] = sha256_bytes(path.read_bytes())
            data = load_file(path, KnowledgeBaseError, rel)
        except OSError:
            self.add(rel, "", "required file is missing or unreadable")
            return None
        except KnowledgeBaseError as exc:
            self.problems.extend(exc.problems)
            return None
        if schema:
            found = schemas.problems(schema, data, rel)
            if found:
                self.problems.extend(found)
                return None
        return data

    def add(self, file: str, field_: str, message: str):
        self.problems.append(Problem(file, field_, message))


def load(root: str | Path | None = None) -> KnowledgeBase:
    """Load and check the knowledge base at ``root``; raise KnowledgeBaseError listing every problem."""
    root = Path(root) if root else default_root()
    if not (root / "knowledge").is_dir():
        raise KnowledgeBaseError(Problem(str(root), "", "not a knowledge-base root (no knowledge/ folder)"))
    c = _Collector(root)
    kdir, pdir = root / "knowledge", root / "provenance"

    meta = c.load(kdir / "kb.yaml", "kb") or {"release": "0.0.0", "stages": [], "name": "?"}
    fact_types = (c.load(kdir / "fact-types.yaml", "fact-types") or {}).get("fact_types", {})
    params_doc = c.load(kdir / "facts" / "parameters.yaml", "parameters") or {}
    parameters = _by_id(c, params_doc.get("parameters", []), "knowledge/facts/parameters.yaml", "parameters")
    facts = {}
    for path in sorted((kdir / "facts").glob("*.yaml")):
        if path.name in ("parameters.yaml", "treatment-classes.yaml"):
            continue
        doc = c.load(path, "facts")
        if doc:
            facts.update(_by_id(c, doc["facts"], c.rel(path), "facts"))
    classes_doc = c.load(kdir / "facts" / "treatment-classes.yaml", "treatment-classes") or {}
    coverage = c.load(kdir / "coverage.yaml", "coverage") or {}
    policy = {}
    if (kdir / "policy.yaml").exists():
        policy = c.load(kdir / "policy.yaml", "policy") or {}

    sources = _load_sources(c, pdir / "sources")
    references = {}
    refs_doc = c.load(pdir / "references.yaml", "references") if (pdir / "references.yaml").exists() else None
    if refs_doc:
        for i, ref in enumerate(refs_doc["references"]):
            if ref["number"] in references:
                c.add("provenance/references.yaml", f"references[{i}].number", f"duplicate reference number {ref['number']}")
            references[ref["number"]] = ref

    param_values = {k: v["value"] for k, v in parameters.items()}
    rules = {}
    for path in sorted((kdir / "rules").rglob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        rel = c.rel(path)
        data = c.load(path, "rule")
        if not data:
            continue
        if data["id"] in rules:
            c.add(rel, "id", f"duplicate rule id {data['id']!r} (also in {rules[data['id']].file})")
            continue
        if path.stem != data["id"]:
            c.add(rel, "id", f"rule id {data['id']!r} does not match the file name {path.name!r}")
        try:
            patterns = parse_when(data["when"], param_values)
        except ConditionError as exc:
            c.add(rel, exc.field, str(exc))
            continue
        rules[data["id"]] = Rule(
            id=data["id"], version=data["version"], title=data["title"], kind=data["kind"], author=data["author"],
            patterns=patterns, then=data["then"], statement=data["statement"],
            citations=[Citation(x["source"], x["section"], x["quote"], x.get("references", [])) for x in data["citations"]],
            uses=data.get("uses", []), file=rel, data=data)

    kb = KnowledgeBase(root=root, meta=meta, stages=meta.get("stages", []), fact_types=fact_types,
                       parameters=parameters, facts=facts, treatment_classes=classes_doc.get("classes", {}),
                       rules={}, sources=sources, references=references, coverage=coverage, policy=policy,
                       files=c.files)
    kb.rules = dict(sorted(rules.items(), key=lambda kv: (kb.stage_index(kv[1].kind), kv[0])))
    _check_rules(c, kb)
    _check_citations(c, kb, params_doc, classes_doc)
    if c.problems:
        raise KnowledgeBaseError(c.problems)
    for rule in kb.rules.values():
        rule.digest = rule_digest(kb, rule)
    kb.digest = content_digest(kb.files)
    return kb


def _by_id(c: _Collector, items: list, file: str, key: str) -> dict:
    out = {}
    for i, item in enumerate(items):
        if item["id"] in out:
            c.add(file, f"{key}[{i}].id", f"duplicate id {item['id']!r}")
        out[item["id"]] = item
    return out


def _load_sources(c: _Collector, folder: Path) -> dict:
    sources = {}
    for path in sorted(folder.glob("*.yaml")):
        meta = c.load(path, "source")
        if not meta:
            continue
        rel = c.rel(path)
        text_path = path.parent / meta["text_file"]
        try:
            raw = text_path.read_bytes()
        except OSError:
            c.add(rel, "text_file", f"registered text {meta['text_file']!r} is missing")
            continue
        c.files[c.rel(text_path)] = sha256_bytes(raw)
        if sha256_bytes(raw) != meta["sha256"]:
            c.add(rel, "sha256", f"the text file's sha256 is {sha256_bytes(raw)}, not the registered {meta['sha256']}")
            continue
        sources[meta["id"]] = Source(meta["id"], meta, raw.decode("utf-8"), rel)
    return sources


def _check_rules(c: _Collector, kb: KnowledgeBase) -> None:
    kinds = {s["kind"] for s in kb.stages}
    asserted = {r.asserts for r in kb.rules.values() if r.asserts}
    for rule in kb.rules.values():
        if rule.kind not in kinds:
            c.add(rule.file, "kind", f"unknown stage {rule.kind!r} (stages: {', '.join(s['kind'] for s in kb.stages)})")
        aliases = [p.alias for p in rule.patterns]
        for i, pattern in enumerate(rule.patterns):
            if pattern.fact not in kb.fact_types and pattern.fact not in asserted:
                c.add(rule.file, f"when[{i}].fact", f"no fact type {pattern.fact!r} is declared or asserted by any rule")
            if aliases.count(pattern.alias) > 1:
                c.add(rule.file, f"when[{i}].as", f"alias {pattern.alias!r} is used twice; give each pattern its own `as`")
        then = rule.then.get("conclude") or rule.then.get("assert")
        for key in ("details_from", "from"):
            if key in then and then[key] not in aliases:
                c.add(rule.file, f"then.{'conclude' if 'conclude' in rule.then else 'assert'}.{key}",
                      f"no pattern is aliased {then[key]!r} (aliases: {', '.join(aliases)})")
        if rule.concludes and "patient" not in rule.statement:
            c.add(rule.file, "statement.patient", "a rule that concludes needs a patient-language statement")
        for i, fact_id in enumerate(rule.uses):
            if fact_id not in kb.facts:
                c.add(rule.file, f"uses[{i}]", f"no knowledge-base fact {fact_id!r}")


def verify_citation(kb: KnowledgeBase, citation: Citation) -> tuple[str, str] | None:
    """None when the citation verifies; otherwise (field, message)."""
    source = kb.sources.get(citation.source)
    if source is None:
        return "source", f"no registered source {citation.source!r}"
    if citation.section not in source.meta["sections"]:
        return "section", f"{citation.section!r} is not a section of {citation.source}"
    if citation.quote not in source.text:
        return "quote", f"quote not found verbatim in {citation.source}: {citation.quote[:60]!r}"
    for number in citation.references:
        if number not in kb.references:
            return "references", f"reference {number} is not in provenance/references.yaml"
    return None


def _check_citations(c: _Collector, kb: KnowledgeBase, params_doc: dict, classes_doc: dict) -> None:
    def check(file: str, prefix: str, raw_list):
        for i, raw in enumerate(raw_list or []):
            citation = Citation(raw["source"], raw["section"], raw["quote"], raw.get("references", []))
            failure = verify_citation(kb, citation)
            if failure:
                c.add(file, f"{prefix}[{i}].{failure[0]}", failure[1])

    for rule in kb.rules.values():
        check(rule.file, "citations", rule.data["citations"])
    for i, p in enumerate(params_doc.get("parameters", [])):
        check("knowledge/facts/parameters.yaml", f"parameters[{i}].provenance.citations", p["provenance"].get("citations"))
    for fact_id, fact in kb.facts.items():
        check("knowledge/facts", f"{fact_id}.citations", fact["citations"])
    check("knowledge/facts/treatment-classes.yaml", "citations", classes_doc.get("citations"))
    check("knowledge/facts/treatment-classes.yaml", "provenance.citations", classes_doc.get("provenance", {}).get("citations"))


def rule_digest(kb: KnowledgeBase, rule: Rule) -> str:
    """Digest of what a reviewer approves: the rule's content and the values it uses.
    Version and author are left out: they describe the content, they are not it."""
    content = {k: v for k, v in rule.data.items() if k not in ("version", "author")}
    content["parameters"] = {p: kb.parameters[p]["value"] for p in rule.parameters}
    content["facts"] = {f: kb.facts[f]["values"] for f in rule.uses}
    return canonical_digest(content)


def content_digest(files: dict) -> str:
    """Digest of the knowledge base's content files (the review ledger is not content)."""
    lines = sorted(f"{path} {digest}" for path, digest in files.items())
    return "sha256:" + sha256_bytes("\n".join(lines).encode("utf-8"))
