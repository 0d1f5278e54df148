"""Rule tests: cases kept next to the rules they exercise, run with coverage.

A test file ``knowledge/rules/<stage>/<rule-id>.test.yaml`` (schemas/rule-tests.schema.json)
lists cases. Each case starts from a shipped example case (``case:`` a file in
knowledge/cases/, or an inline mapping), changes it (``unset:`` paths are removed
first, then ``set:`` paths are given new values) and states what must and must not
be concluded.

API (used by ``bmdkb test``, ``bmdkb diff``, lint and the test suite)::

    TEST_TODAY                                   the fixed "today" every case is evaluated on
    derive_case(kb_root, spec, test_file="<inline>", index=0) -> dict
        the input case a test case describes; bad paths raise KnowledgeBaseError
    load_test_files(kb_root, paths=None, kb=None) -> list[TestFile]
        every test file (or those under ``paths``), validated, each case derived and
        checked against the case contract; all problems raised at once (KnowledgeBaseError)
    run(kb, test_files, rules=None, evaluator=None) -> TestRun
        evaluate every case with one Evaluator, check its expectations, and tally per rule
    TestRun.outcomes   [CaseOutcome]  .test, .evaluation, .conclusions {code: support},
                                      .fired (rule ids), .failures [Failure], .passed, .skipped
    TestRun.rules      {rule id: RuleResult}  .as_expected / .missed / .unexpected (case names
                                      from the rule's own test file), .fired_in / .absent_in
                                      (case keys across all test files), .covered
    TestRun.coverage() -> Coverage    .covered, .total, .percent, .uncovered
    TestRun.ok(threshold=None) -> bool
    why_not(kb, evaluation, code, support=None) -> list[str]   short why-not lines, from engine/explain.py

A rule *fired* in a case when it appears in Evaluation.firings and was *absent*
when it does not; it is *covered* when it fired in at least one case and was
absent in at least one (both sides of its condition are exercised).
"""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from bmdkb.engine.kb import conditions

from bmdkb.engine.kb import schemas
from bmdkb.engine.common import fieldpath
from bmdkb.engine.adapters.dxa.adapter import validate_case
from bmdkb.engine.common.errors import BmdkbError, KnowledgeBaseError, Problem
from bmdkb.engine.common.yamlio import load_file

# Cases are evaluated on a fixed day so a test's outcome never depends on the clock
# (only the "scan dated in the future" check reads today). Case dates must precede it.
TEST_TODAY = dt.date(2030, 1, 1)
TEST_NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
SUFFIX = ".test.yaml"


# ---------------------------------------------------------------- data


@dataclass
class TestCase:
    file: str           # the test file, relative to the KB root when inside it
    rule: str           # the rule whose test file holds this case
    index: int          # position in the file's `cases`
    name: str
    spec: dict          # the case entry as written
    case: dict          # the derived input case
    expect: dict
    skip: str | None = None

    __test__ = False    # not a pytest class

    @property
    def key(self) -> str:
        """Stable identity of the case across knowledge-base versions."""
        return f"{self.file}::{self.name}"

    @property
    def label(self) -> str:
        return f"{self.file} cases[{self.index}] ({self.name})"


@dataclass
class TestFile:
    path: Path
    file: str
    rule: str
    cases: list

    __test__ = False


@dataclass
class Failure:
    kind: str           # missing | unexpected | support | because
    code: str
    message: str


@dataclass
class CaseOutcome:
    test: TestCase
    evaluation: object = None          # evaluate.Evaluation; None when skipped
    conclusions: dict = field(default_factory=dict)   # code -> support
    fired: set = field(default_factory=set)           # rule ids in Evaluation.firings
    failures: list = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return self.test.skip is not None

    @property
    def passed(self) -> bool:
        return not self.skipped and not self.failures


@dataclass
class RuleResult:
    rule: str
    as_expected: list = field(default_factory=list)   # names of own cases that passed
    missed: list = field(default_factory=list)        # own cases where an expected code, support or because was missing
    unexpected: list = field(default_factory=list)    # own cases where a code expected absent was concluded
    fired_in: list = field(default_factory=list)      # keys of all cases where the rule fired
    absent_in: list = field(default_factory=list)     # keys of all cases where it did not
    has_tests: bool = False

    @property
    def covered(self) -> bool:
        return bool(self.fired_in) and bool(self.absent_in)


@dataclass
class Coverage:
    covered: list
    uncovered: list

    @property
    def total(self) -> int:
        return len(self.covered) + len(self.uncovered)

    @property
    def percent(self) -> float:
        return 100.0 if not self.total else 100.0 * len(self.covered) / self.total


@dataclass
class TestRun:
    outcomes: list
    rules: dict

    __test__ = False

    def coverage(self) -> Coverage:
        covered = [r for r, res in self.rules.items() if res.covered]
        return Coverage(covered, [r for r, res in self.rules.items() if not res.covered])

    @property
    def failed(self) -> list:
        return [o for o in self.outcomes if o.failures]

    def ok(self, threshold: float | None = None) -> bool:
        if self.failed:
            return False
        return threshold is None or self.coverage().percent >= threshold


# ---------------------------------------------------------------- deriving a case

def _walk(doc, tokens: list, create: bool) -> tuple[object, str]:
    """The container holding the last token (creating mappings when asked), or raise ValueError."""
    current, walked = doc, []
    for token, following in zip(tokens[:-1], tokens[1:]):
        here = schemas.field_path(walked) or "the case"
        if isinstance(token, int):
            if not isinstance(current, list):
                raise ValueError(f"{here} is not a list")
            if token >= len(current):
                raise ValueError(f"{here} has {len(current)} entries; there is no {schemas.field_path(walked + [token])}")
            current = current[token]
        else:
            if not isinstance(current, dict):
                raise ValueError(f"{here} is not a mapping")
            if token not in current:
                if not create:
                    raise ValueError(f"{schemas.field_path(walked + [token])} is not in the case")
                if isinstance(following, int):
                    raise ValueError(f"{schemas.field_path(walked + [token])} is not in the case; a list cannot be created by index")
                current[token] = {}
            current = current[token]
        walked.append(token)
    return current, schemas.field_path(walked) or "the case"


def _set(doc, tokens: list, value) -> None:
    container, where = _walk(doc, tokens, create=True)
    last = tokens[-1]
    if isinstance(last, int):
        if not isinstance(container, list):
            raise ValueError(f"{where} is not a list")
        if last >= len(container):
            raise ValueError(f"{where} has {len(container)} entries; there is no {schemas.field_path(tokens)}")
    elif not isinstance(container, dict):
        raise ValueError(f"{where} is not a mapping")
    container[last] = copy.deepcopy(value)


def _unset(doc, tokens: list) -> None:
    container, where = _walk(doc, tokens, create=False)
    last = tokens[-1]
    if isinstance(last, int):
        if not isinstance(container, list) or last >= len(container):
            raise ValueError(f"{schemas.field_path(tokens)} is not in the case: nothing to remove")
    elif not isinstance(container, dict) or last not in container:
        raise ValueError(f"{schemas.field_path(tokens)} is not in the case: nothing to remove")
    del container[last]


def _base_case(kb_root: Path, name, test_file: str, where: str, cache: dict | None) -> dict:
    if isinstance(name, dict):
        return copy.deepcopy(name)
    folder = (Path(kb_root) / "knowledge" / "cases").resolve()
    path = (folder / str(name)).resolve()
    if folder not in path.parents:
        raise KnowledgeBaseError(Problem(test_file, where, f"{name!r} is not a file in knowledge/cases/"))
    if cache is not None and path in cache:
        return copy.deepcopy(cache[path])
    if not path.is_file():
        raise KnowledgeBaseError(Problem(test_file, where, f"no case file knowledge/cases/{name}"))
    data = load_file(path, KnowledgeBaseError, f"knowledge/cases/{name}")
    if not isinstance(data, dict):
        raise KnowledgeBaseError(Problem(f"knowledge/cases/{name}", "", "a case must be a mapping"))
    if cache is not None:
        cache[path] = data
    return copy.deepcopy(data)


def derive_case(kb_root, spec: dict, test_file: str = "<inline>", index: int = 0, _cache: dict | None = None) -> dict:
    """The input case a test case describes: its base case with ``unset`` paths removed,
    then ``set`` paths given their values (intermediate mappings are created). A bad path
    raises KnowledgeBaseError naming the test file and the field, e.g. ``cases[2].set.scans[5].date``."""
    prefix = f"cases[{index}]"
    case = _base_case(Path(kb_root), spec.get("case"), test_file, f"{prefix}.case", _cache)
    # Removals first, then new values: each edit is (field of the test file, input path, apply).
    edits = [(f"{prefix}.unset[{j}]", path, lambda tokens: _unset(case, tokens))
             for j, path in enumerate(spec.get("unset") or [])]
    edits += [(f"{prefix}.set.{path}", path, lambda tokens, value=value: _set(case, tokens, value))
              for path, value in (spec.get("set") or {}).items()]
    problems = []
    for field_, path, apply in edits:
        tokens = fieldpath.split(path)
        if tokens is None:
            problems.append(Problem(test_file, field_, f"{path!r} is not an input path "
                                    "(write it like scans[1].sites.total_hip.bmd_g_cm2)"))
            continue
        try:
            apply(tokens)
        except ValueError as exc:
            problems.append(Problem(test_file, field_, str(exc)))
    if problems:
        raise KnowledgeBaseError(problems)
    return case


# ---------------------------------------------------------------- loading test files


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


def load_test_files(kb_root, paths=None, kb=None) -> list[TestFile]:
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
                validate_case(case, label, TEST_TODAY)
            except BmdkbError as exc:
                problems.extend(exc.problems)
                continue
            cases.append(TestCase(display, rule_id, i, spec["name"], spec, case, spec["expect"], spec.get("skip")))
        loaded.append(TestFile(path, display, rule_id, cases))
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


# ---------------------------------------------------------------- running


def run(kb, test_files: list[TestFile], rules=None, evaluator=None) -> TestRun:
    """Evaluate every (not skipped) case with one Evaluator, check expectations, tally per rule.

    ``rules`` limits the per-rule tally and coverage (default: every rule of ``kb``)."""
    from bmdkb.engine.run.evaluate import Evaluator

    evaluator = evaluator or Evaluator(kb, now=TEST_NOW)
    outcomes = []
    for test_file in test_files:
        for test in test_file.cases:
            outcomes.append(run_case(kb, evaluator, test))
    scope = list(rules) if rules is not None else list(kb.rules)
    results = {rule_id: RuleResult(rule_id) for rule_id in scope}
    for outcome in outcomes:
        if outcome.skipped:
            continue
        own = results.get(outcome.test.rule)
        if own is not None:
            own.has_tests = True
            kinds = {f.kind for f in outcome.failures}
            if not kinds:
                own.as_expected.append(outcome.test.name)
            if kinds & {"missing", "support", "because"}:
                own.missed.append(outcome.test.name)
            if "unexpected" in kinds:
                own.unexpected.append(outcome.test.name)
        for rule_id, result in results.items():
            (result.fired_in if rule_id in outcome.fired else result.absent_in).append(outcome.test.key)
    return TestRun(outcomes, results)


def run_case(kb, evaluator, test: TestCase) -> CaseOutcome:
    if test.skip is not None:
        return CaseOutcome(test)
    evaluation = evaluator.evaluate(test.case, test.label, today=TEST_TODAY)
    conclusions = {c["code"]: c for c in evaluation.result["conclusions"]}
    outcome = CaseOutcome(test, evaluation, {code: c["support"] for code, c in conclusions.items()},
                          {f.rule for f in evaluation.firings})
    outcome.failures = check_expectations(test.expect, conclusions)
    return outcome


def check_expectations(expect: dict, conclusions: dict) -> list[Failure]:
    """Failures of one case's expectations against its conclusions (code -> conclusion dict)."""
    failures = []
    must_fire = list(dict.fromkeys(list(expect.get("fires", [])) + list(expect.get("support", {}))
                                   + list(expect.get("because", {}))))
    for code in must_fire:
        if code not in conclusions:
            failures.append(Failure("missing", code, f"{code} was expected but not concluded"))
    for code in expect.get("absent", []):
        if code in conclusions:
            failures.append(Failure("unexpected", code,
                                    f"{code} ({conclusions[code]['support']}) was concluded but expected absent"))
    for code, support in expect.get("support", {}).items():
        if code in conclusions and conclusions[code]["support"] != support:
            failures.append(Failure("support", code, f"{code} is {conclusions[code]['support']}, expected {support}"))
    for code, entries in expect.get("because", {}).items():
        if code in conclusions:
            lacking = [e for e in entries if e not in conclusions[code]["because"]]
            if lacking:
                failures.append(Failure("because", code, f"{code}'s because lacks {', '.join(lacking)} "
                                        f"(it is: {', '.join(conclusions[code]['because'])})"))
    return failures


# ---------------------------------------------------------------- why not


def why_not(kb, evaluation, code: str, support: str | None = None) -> list[str]:
    """Short reasons ``code`` (with ``support``, if given) was not concluded: one line per
    unmet condition of each rule that could conclude it, read from explain's why-not."""
    from bmdkb.engine.explain import explainer as explain

    lines = []
    for attempt in explain.why_not(kb, evaluation, code)["rules"]:
        if support is None or attempt.get("support") == support:
            lines.extend(_attempt_lines(attempt, depth=0))
    return lines


def _attempt_lines(attempt: dict, depth: int) -> list[str]:
    """One line per unmet pattern; for a fact no rule derived, the producing rules one level down."""
    lines = []
    for pattern in attempt["patterns"]:
        if pattern["state"] == conditions.TRUE:
            continue
        lines.append("  " * depth + f"{attempt['rule']['id']}: `{pattern['alias']}` {pattern['state']}: {_gap(pattern)}")
        if depth == 0 and not pattern.get("candidates"):
            for producer in pattern.get("producers", []):
                lines.extend(_attempt_lines(producer, depth + 1))
    return lines


def _gap(pattern: dict) -> str:
    """What keeps one pattern from matching: the closest candidate's failing tests, or what is missing."""
    if pattern.get("candidates"):
        best = pattern["candidates"][0]
        return f"{best['label']}: " + "; ".join(_failing(best["tests"]))
    missing = pattern.get("missing", {})
    text = missing.get("text", f"no {pattern['fact_type']} fact")
    if missing.get("inputs"):
        text += f" (settled by {', '.join(missing['inputs'])})"
    return text


def _failing(tests: list) -> list[str]:
    out = []
    for test in tests:
        if test["state"] == conditions.TRUE:
            continue
        if "any" in test:
            out.append("none of: " + " | ".join("; ".join(_failing(g["tests"])) for g in test["any"]))
            continue
        text = test["text"]
        if test.get("missing", {}).get("inputs"):
            text += f" (settled by {', '.join(test['missing']['inputs'])})"
        out.append(text)
    return out


def describe_tests(tests) -> str:
    parts = []
    for test in tests:
        if isinstance(test, conditions.AnyOf):
            parts.append("any of (" + " | ".join(describe_tests(g) for g in test.groups) + ")")
        elif test.op == "exists":
            parts.append(f"{test.field} {'recorded' if test.value else 'not recorded'}")
        else:
            value = list(test.value) if test.op == "in" else test.value
            parts.append(f"{test.field} {conditions.SYMBOL[test.op]} {value}")
    return ", ".join(parts)
