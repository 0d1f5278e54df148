"""Finding test files and loading them: schema, names, expectations, and every case derived
and checked against the case contract, with all problems reported at once."""
from __future__ import annotations

from pathlib import Path

from bmdkb.engine import adapters
from bmdkb.engine.authoring.rule_tests.derive import derive_case
from bmdkb.engine.authoring.rule_tests.model import SUFFIX, TEST_TODAY, RuleTestCase, RuleTestFile
from bmdkb.engine.common.errors import BmdkbError, KnowledgeBaseError, Problem
from bmdkb.engine.common.yamlio import load_file
from bmdkb.engine.kb import schemas


def _display(kb_root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(Path(kb_root).resolve()).as_posix()
    except ValueError:
        return str(path)


def discover(kb_root, paths=None) -> tuple[list[Path], list[Problem]]:
    """Test files of the KB (all of them, or those named by or under ``paths``)."""
    kb_root = Path(kb_root)
    if not paths:
        return sorted((kb_root / "knowledge" / "rules").rglob(f"*{SUFFIX}")), []
    found, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{SUFFIX}")))
        elif path.name.endswith(SUFFIX) and path.is_file():
            found.append(path)
        elif path.suffix == ".yaml" and path.with_name(path.stem + SUFFIX).is_file():
            found.append(path.with_name(path.stem + SUFFIX))   # a rule file: its tests
        else:
            problems.append(Problem(str(raw), "", "no such test file or folder (test files end in .test.yaml)"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, problems


def load_test_files(kb_root, paths=None, kb=None) -> list[RuleTestFile]:
    """Load, validate and derive every test case; raise KnowledgeBaseError listing all problems.

    With ``kb``, each file's rule must exist in it and every expected code must be one
    some rule concludes (an expectation on a code nothing concludes could never fail)."""
    kb_root = Path(kb_root)
    files, problems = discover(kb_root, paths)
    known_codes = set(kb.codes()) if kb is not None else None
    cache: dict = {}
    loaded = []
    for path in files:
        display = _display(kb_root, path)
        try:
            data = load_file(path, KnowledgeBaseError, display)
        except KnowledgeBaseError as exc:
            problems.extend(exc.problems)
            continue
        found = schemas.problems("rule-tests", data, display)
        if found:
            problems.extend(found)
            continue
        rule_id = data["rule"]
        if path.name != rule_id + SUFFIX:
            problems.append(Problem(display, "rule", f"the file of rule {rule_id!r}'s tests must be named {rule_id}{SUFFIX}"))
        if kb is not None and rule_id not in kb.rules:
            problems.append(Problem(display, "rule", f"no rule {rule_id!r} in the knowledge base"))
        cases, names = [], set()
        for i, spec in enumerate(data["cases"]):
            if spec["name"] in names:
                problems.append(Problem(display, f"cases[{i}].name", f"another case is already named {spec['name']!r}"))
            names.add(spec["name"])
            problems.extend(_expectation_problems(spec["expect"], display, f"cases[{i}].expect", known_codes))
            try:
                case = derive_case(kb_root, spec, display, i, cache)
            except KnowledgeBaseError as exc:
                problems.extend(exc.problems)
                continue
            label = f"{display} cases[{i}]"
            try:
                adapters.for_kb(kb).validate_case(case, label, TEST_TODAY)
            except BmdkbError as exc:
                problems.extend(exc.problems)
                continue
            cases.append(RuleTestCase(display, rule_id, i, spec["name"], spec, case, spec["expect"], spec.get("skip")))
        loaded.append(RuleTestFile(path, display, rule_id, cases))
    if problems:
        raise KnowledgeBaseError(problems)
    return loaded


def _expectation_problems(expect: dict, file: str, where: str, known_codes) -> list[Problem]:
    problems = []
    fires, absent = expect.get("fires", []), expect.get("absent", [])
    for code in sorted(set(fires) & set(absent)):
        problems.append(Problem(file, f"{where}.absent", f"{code} is expected both to fire and to be absent"))
    for key in ("support", "because"):
        for code in expect.get(key, {}):
            if code in absent:
                problems.append(Problem(file, f"{where}.{key}.{code}", f"{code} is expected to be absent"))
    if known_codes is None:
        return problems
    for key in ("fires", "absent"):
        for j, code in enumerate(expect.get(key, [])):
            if code not in known_codes:
                problems.append(Problem(file, f"{where}.{key}[{j}]", f"no rule concludes {code!r}"))
    for key in ("support", "because"):
        for code in expect.get(key, {}):
            if code not in known_codes:
                problems.append(Problem(file, f"{where}.{key}.{code}", f"no rule concludes {code!r}"))
    return problems
