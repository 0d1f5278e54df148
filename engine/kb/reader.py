"""One reading of a knowledge-base root, shared by ``knowledge_base.load`` and lint
(what a reading holds, and its problem records, are in engine/kb/reading.py).

Load must refuse a knowledge base with any problem, as evaluation needs; lint must
report on exactly such a knowledge base. So the files are read here the tolerant way:
a file that does not parse or validate is left out and its problems recorded, and
what does read is assembled into a (possibly partial) KnowledgeBase.

Each problem is recorded once, in ``Reading.problems``, as a ``Noted``: a Problem whose
``code`` is the lint check that reports it, and whom it concerns. ``refused`` (why load
refuses the knowledge base, in the order it lists them; ``refusal()`` raises them) and
``found`` (what lint reports from the reading) are two views of that one stream; lint
never loads the knowledge base a second time.

Most problems are both. Lint alone hears of a fact id repeated in another file (load
has always let the later file win). Load alone is told of fact types and citations here;
lint reports those through its own checks (engine/authoring/lint/chain.py, citations.py,
which ask the same engine/kb/citations.py). Load and lint word a few problems differently
(a missing file, a repeated parameter or fact id); ``Noted.refusal`` keeps load's words and
tests pin both wordings.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bmdkb.engine import adapters
from bmdkb.engine.kb import schemas
from bmdkb.engine.kb.conditions import ConditionError, engine_limit_problems, parse_when
from bmdkb.engine.common.errors import KnowledgeBaseError, Problem
from bmdkb.engine.kb import citations, marks
from bmdkb.engine.kb.reading import CitationSite, Noted, Reading  # noqa: F401 - the records, named here too
from bmdkb.engine.kb.model import (Citation, KnowledgeBase, Rule, Source, content_digest, rule_digest,
                                   sha256_bytes)
from bmdkb.engine.common.yamlio import parse_bytes, read_bytes

PARAMETERS_FILE = "knowledge/facts/parameters.yaml"
KB_FILE = "knowledge/kb.yaml"
MISSING = "required file is missing or unreadable"


class _Reader:
    """Reads files relative to the root, recording their digests and problems."""

    def __init__(self, root: Path, reading: Reading):
        self.root, self.reading, self.files = root, reading, {}
        self.domain_files: set[str] = set()   # the adapter's data files: not facts files
        self.parsed = {}   # relative path -> bytes of each YAML file that parsed within the limits

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def read(self, path: Path, schema: str, required: bool = True):
        """The parsed, schema-valid document at ``path``, or None with its problems recorded."""
        rel = self.rel(path)
        if not required and not path.exists():
            return None
        if self.outside(path, rel, ""):
            return None
        try:
            raw = read_bytes(path, KnowledgeBaseError, rel)   # a FIFO or an oversized file is refused unread
            self.files[rel] = sha256_bytes(raw)
            data = parse_bytes(raw, rel, KnowledgeBaseError, as_json=path.suffix == ".json")
            if path.suffix != ".json":
                self.parsed[rel] = raw
        except OSError:
            # Lint names a missing file in its own words. One there but unreadable (a folder named
            # policy.yaml) only load refuses, and lint reports that refusal as a load-error.
            if required and not path.is_file():
                self.reading.add("schema", rel, "", "no such file", refusal=MISSING)
            else:
                self.reading.note("load-error", rel, "", MISSING, reported=False)
            return None
        except KnowledgeBaseError as exc:
            self.reading.add_problems("schema", exc.problems)
            return None
        problems = schemas.problems(schema, data, rel)
        if problems:
            self.reading.add_problems("schema", problems)
            return None
        self.reading.documents[rel] = data
        return data

    def outside(self, path: Path, file: str, field_: str) -> bool:
        """Record (and say) that ``path`` resolves outside the root: a symlink or a ``../`` path.
        Such a file is not the knowledge base's to use, whether or not a cache is in play."""
        try:
            target = path.resolve()
        except (OSError, RuntimeError):   # a symlink loop
            target = None
        if target is not None and target.is_relative_to(self.root.resolve()):
            return False
        self.reading.add("outside-root", file, field_,
                         f"{path.name!r} resolves outside the knowledge-base root ({target or 'a symlink loop'}); "
                         "every file of a knowledge base must be inside its root")
        return True

    def cited(self, file: str, field_: str, raw_list, owner: str) -> None:
        for j, raw in enumerate(raw_list or []):
            self.reading.citations.append(CitationSite(file, f"{field_}[{j}]", raw, owner))


def read(root) -> Reading:
    """Read whatever of the knowledge base at ``root`` can be read; raise only if it is not one."""
    root = Path(root)
    if not (root / "knowledge").is_dir():
        raise KnowledgeBaseError(Problem(str(root), "", "not a knowledge-base root (no knowledge/ folder)"))
    reading = Reading(root)
    r = _Reader(root, reading)
    kdir, pdir = root / "knowledge", root / "provenance"

    meta = r.read(kdir / "kb.yaml", "kb") or {"release": "0.0.0", "stages": [], "name": "?"}
    reading.data_files = _data_files(_adapter(reading, meta))
    r.domain_files = {spec.path for spec in reading.data_files}
    fact_types = (r.read(kdir / "fact-types.yaml", "fact-types") or {}).get("fact_types", {})
    parameters = _parameters(r, kdir / "facts" / "parameters.yaml")
    facts = _facts(r, kdir / "facts")
    domain_data = _domain_data(r, reading.data_files)
    coverage = r.read(kdir / "coverage.yaml", "coverage") or {}
    policy = r.read(kdir / "policy.yaml", "policy", required=False) or {}
    # The roster is content like policy.yaml: in the files and digest a release manifest binds.
    board = r.read(kdir / "board.yaml", "board", required=False) or {}
    sources = _sources(r, pdir / "sources")
    references = _references(r, pdir / "references.yaml")

    kb = KnowledgeBase(root=root, meta=meta, stages=meta.get("stages", []), fact_types=fact_types,
                       parameters=parameters, facts=facts, domain_data=domain_data,
                       rules={}, sources=sources, references=references, coverage=coverage, policy=policy,
                       files=r.files, board=board)
    reading.kb = kb
    rules = _rules(r, kdir / "rules", {k: v["value"] for k, v in parameters.items()})
    stages = kb.stage_order
    kb.rules = dict(sorted(rules.items(), key=lambda kv: (stages.index(kv[1].kind), kv[0])))
    _check_rules(reading)
    _check_citations(reading)
    _digest(kb)
    _locate(reading, r.parsed)
    return reading


def _adapter(reading: Reading, meta: dict):
    """The case adapter kb.yaml names. When kb.yaml did not read, or names an adapter the
    registry does not know (a problem recorded here), the default adapter stands in, so that
    the other files are still read and checked as they would be."""
    name = meta.get("adapter", adapters.DEFAULT)
    if name not in adapters.known():
        reading.add("schema", KB_FILE, "adapter", f"unknown adapter {name!r} (known: {', '.join(adapters.known())})")
        name = adapters.DEFAULT
    return adapters.named(name)


def _data_files(adapter) -> tuple:
    return tuple(adapter.data_files)


def _domain_data(r: _Reader, data_files) -> dict:
    """The adapter's own knowledge files, read and validated like any other, citations recorded."""
    data = {}
    for spec in data_files:
        doc = r.read(r.root / spec.path, spec.schema) or {}
        r.cited(spec.path, "citations", doc.get("citations"), spec.path)
        r.cited(spec.path, "provenance.citations", doc.get("provenance", {}).get("citations"), spec.path)
        data[spec.key] = doc.get(spec.take, {})
    return data


def _locate(reading: Reading, parsed: dict) -> None:
    """Give each problem the line and column of its field, where its file parsed (engine/kb/marks.py).
    Only files with problems are composed again, so a clean knowledge base reads as fast as before."""
    found: dict = {}
    for i, noted in enumerate(reading.problems):
        problem = noted.problem
        if problem.file not in parsed or problem.line is not None:
            continue
        if problem.file not in found:
            found[problem.file] = marks.marks(parsed[problem.file].decode("utf-8"))
        where = marks.locate(found[problem.file], problem.field)
        if where is not None:
            reading.problems[i] = replace(noted, problem=replace(problem, line=where[0], column=where[1]))


def _digest(kb: KnowledgeBase) -> None:
    for rule in kb.rules.values():
        try:
            rule.digest = rule_digest(kb, rule)
        except KeyError:   # it uses a fact that is missing, a problem already recorded
            rule.digest = ""
    kb.digest = content_digest(kb.files)


def _parameters(r: _Reader, path: Path) -> dict:
    doc = r.read(path, "parameters") or {}
    parameters = {}
    for i, p in enumerate(doc.get("parameters", [])):
        if p["id"] in parameters:   # the first copy stays: load only asks whether an id exists
            r.reading.add("duplicate-id", PARAMETERS_FILE, f"parameters[{i}].id", f"duplicate parameter id {p['id']!r}",
                          refusal=f"duplicate id {p['id']!r}")
            continue
        parameters[p["id"]] = p
        r.reading.parameter_files[p["id"]] = (PARAMETERS_FILE, i)
        r.cited(PARAMETERS_FILE, f"parameters[{i}].provenance.citations", p["provenance"].get("citations"), p["id"])
    return parameters


def _facts(r: _Reader, folder: Path) -> dict:
    """Facts of every facts file. A repeated id keeps its first place and takes the later copy,
    as evaluation has always used it; lint checks the citations of the first only."""
    facts, first_file = {}, {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "parameters.yaml" or r.rel(path) in r.domain_files:
            continue
        doc = r.read(path, "facts")
        rel, in_this_file = r.rel(path), set()
        for i, item in enumerate((doc or {}).get("facts", [])):
            fact_id = item["id"]
            if fact_id not in first_file:
                first_file[fact_id] = rel
                r.cited(rel, f"facts[{i}].citations", item["citations"], fact_id)
            elif fact_id in in_this_file:
                r.reading.add("duplicate-id", rel, f"facts[{i}].id",
                              f"duplicate fact id {fact_id!r} (also in {first_file[fact_id]})",
                              refusal=f"duplicate id {fact_id!r}")
            else:   # load has always let a later file's fact replace an earlier file's
                r.reading.note("duplicate-id", rel, f"facts[{i}].id",
                               f"duplicate fact id {fact_id!r} (also in {first_file[fact_id]})", refuses=False)
            in_this_file.add(fact_id)
            facts[fact_id] = item
    return facts


def _references(r: _Reader, path: Path) -> dict:
    doc = r.read(path, "references", required=False) or {}
    references = {}
    for i, ref in enumerate(doc.get("references", [])):
        if ref["number"] in references:
            r.reading.add("duplicate-id", r.rel(path), f"references[{i}].number",
                          f"duplicate reference number {ref['number']}")
            continue
        references[ref["number"]] = ref
    return references


def _sources(r: _Reader, folder: Path) -> dict:
    sources = {}
    for path in sorted(folder.glob("*.yaml")):
        meta = r.read(path, "source")
        if not meta:
            continue
        rel = r.rel(path)
        text_path = path.parent / meta["text_file"]
        if r.outside(text_path, rel, "text_file"):
            continue
        try:
            raw = read_bytes(text_path, KnowledgeBaseError, r.rel(text_path))
        except KnowledgeBaseError as exc:
            r.reading.add_problems("source-text-mismatch", exc.problems)
            continue
        except OSError:
            r.reading.add("source-text-mismatch", rel, "text_file", f"registered text {meta['text_file']!r} is missing")
            continue
        r.files[r.rel(text_path)] = sha256_bytes(raw)
        if sha256_bytes(raw) != meta["sha256"]:
            why = ""
            if b"\r\n" in raw and sha256_bytes(raw.replace(b"\r\n", b"\n")) == meta["sha256"]:
                why = (f": {r.rel(text_path)} has CRLF line endings, so it was converted on checkout or by an "
                       "editor; restore its exact bytes (.gitattributes keeps registered sources -text)")
            r.reading.add("source-text-mismatch", rel, "sha256",
                          f"the text file's sha256 is {sha256_bytes(raw)}, not the registered {meta['sha256']}{why}")
            continue
        sources[meta["id"]] = Source(meta["id"], meta, raw.decode("utf-8"), rel)
    return sources


def _rules(r: _Reader, folder: Path, param_values: dict) -> dict:
    from bmdkb.engine.run.compiler import compile_pattern
    from bmdkb.engine.run.runtime import compile_problem   # durable_rules: each rule within the limits is compiled once

    rules = {}
    for path in sorted(folder.rglob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        rel = r.rel(path)
        data = r.read(path, "rule")
        if not data:
            continue
        if data["id"] in rules:
            r.reading.add("duplicate-id", rel, "id",
                          f"duplicate rule id {data['id']!r} (also in {rules[data['id']].file})")
            continue
        if path.stem != data["id"]:
            r.reading.add("rule-structure", rel, "id",
                          f"rule id {data['id']!r} does not match the file name {path.name!r}")
        too_big = list(engine_limit_problems(data["when"]))
        for field_, message in too_big:
            r.reading.add("engine-limit", rel, field_, message)
        if too_big:   # never handed to the rule engine, which would hang or fail on every case
            continue
        try:
            patterns = parse_when(data["when"], param_values)
        except ConditionError as exc:
            r.reading.add("rule-structure", rel, exc.field, str(exc))
            continue
        problem = compile_problem({"all": [{p.alias: compile_pattern(p)} for p in patterns]})
        if problem:
            r.reading.add("engine-limit", rel, "when", problem)
            continue
        rules[data["id"]] = Rule(
            id=data["id"], version=data["version"], title=data["title"], kind=data["kind"], author=data["author"],
            patterns=patterns, then=data["then"], statement=data["statement"],
            citations=[Citation.from_dict(x) for x in data["citations"]],
            uses=data.get("uses", []), file=rel, data=data)
        r.cited(rel, "citations", data["citations"], data["id"])
    return rules


def _check_rules(reading: Reading) -> None:
    """What a rule refers to exists: its stage, its aliases, the facts it uses."""
    kb = reading.kb
    stages = kb.stage_order
    kinds = stages.kinds
    asserted = {r.asserts for r in kb.rules.values() if r.asserts}
    for rule in kb.rules.values():
        if rule.kind not in stages:
            reading.add("rule-structure", rule.file, "kind",
                        f"unknown stage {rule.kind!r} (stages: {', '.join(kinds)})")
        aliases = [p.alias for p in rule.patterns]
        for i, pattern in enumerate(rule.patterns):
            if pattern.fact not in kb.fact_types and pattern.fact not in asserted:
                # lint's fact-type-unasserted says more: whether anything can assert such facts
                reading.note("fact-type-unasserted", rule.file, f"when[{i}].fact",
                             f"no fact type {pattern.fact!r} is declared or asserted by any rule", reported=False)
            if aliases.count(pattern.alias) > 1:
                reading.add("rule-structure", rule.file, f"when[{i}].as",
                            f"alias {pattern.alias!r} is used twice; give each pattern its own `as`")
        branch = "conclude" if "conclude" in rule.then else "assert"
        for key in ("details_from", "from"):
            if key in rule.then[branch] and rule.then[branch][key] not in aliases:
                reading.add("rule-structure", rule.file, f"then.{branch}.{key}",
                            f"no pattern is aliased {rule.then[branch][key]!r} (aliases: {', '.join(aliases)})")
        if rule.concludes and "patient" not in rule.statement:
            reading.add("rule-structure", rule.file, "statement.patient",
                        "a rule that concludes needs a patient-language statement")
        for i, fact_id in enumerate(rule.uses):
            if fact_id not in kb.facts:
                reading.add("rule-structure", rule.file, f"uses[{i}]", f"no knowledge-base fact {fact_id!r}")


def _check_citations(reading: Reading) -> None:
    """Load refuses a citation that does not verify; lint's citation checks say why, site by site."""
    kb = reading.kb

    def check(file: str, prefix: str, raw_list):
        for i, raw in enumerate(raw_list or []):
            failure = citations.first_failure(kb, raw)
            if failure:
                reading.note(failure.code, file, f"{prefix}[{i}].{failure.field}", failure.message, reported=False)

    params_doc = reading.documents.get(PARAMETERS_FILE) or {}
    for rule in kb.rules.values():
        check(rule.file, "citations", rule.data["citations"])
    for i, p in enumerate(params_doc.get("parameters", [])):
        check(PARAMETERS_FILE, f"parameters[{i}].provenance.citations", p["provenance"].get("citations"))
    for fact_id, fact in kb.facts.items():
        check("knowledge/facts", f"{fact_id}.citations", fact["citations"])
    for spec in reading.data_files:
        doc = reading.documents.get(spec.path) or {}
        check(spec.path, "citations", doc.get("citations"))
        check(spec.path, "provenance.citations", doc.get("provenance", {}).get("citations"))
