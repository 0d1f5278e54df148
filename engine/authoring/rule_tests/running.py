"""Running rule tests: evaluate every case with one Evaluator, check its expectations, and tally
per rule which cases it fired in and which it was absent from (coverage)."""
from __future__ import annotations

from bmdkb.engine.authoring.rule_tests.load import load_test_files
from bmdkb.engine.run import engines
from bmdkb.engine.run.evaluate import Evaluator
from bmdkb.engine.authoring.rule_tests.model import (TEST_NOW, TEST_TODAY, CaseOutcome, Failure, RuleResult,
                                                     RuleTestCase, RuleTestFile, RuleTestRun)


def run(kb, test_files: list[RuleTestFile], rules=None, evaluator=None, others=()) -> RuleTestRun:
    """Evaluate every (not skipped) case with one Evaluator, check expectations, tally per rule.

    ``rules`` limits the per-rule tally and coverage (default: every rule of ``kb``); each case is
    also evaluated by the ``others`` (evaluators on other rule engines), and any disagreement with
    ``evaluator`` is a failure of that case."""
    evaluator = evaluator or Evaluator(kb, now=TEST_NOW)
    outcomes = []
    for test_file in test_files:
        for test in test_file.cases:
            outcomes.append(run_case(kb, evaluator, test, others))
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
    return RuleTestRun(outcomes, results)


def run_case(kb, evaluator, test: RuleTestCase, others=()) -> CaseOutcome:
    """Evaluate one case (unless skipped) and check its expectations, and that every evaluator in
    ``others`` (another rule engine) fires, asserts and concludes exactly the same."""
    if test.skip is not None:
        return CaseOutcome(test)
    evaluation = evaluator.evaluate(test.case, test.label, today=TEST_TODAY)
    conclusions = {c.code: c for c in evaluation.document.conclusions}
    outcome = CaseOutcome(test, evaluation, {code: c.support for code, c in conclusions.items()},
                          {f.rule for f in evaluation.firings})
    outcome.failures = check_expectations(test.expect, conclusions)
    for other in others:
        differs = engines.disagreement(evaluation, other.evaluate(test.case, test.label, today=TEST_TODAY))
        if differs:
            outcome.failures.append(Failure("engines", "", f"the {evaluator.engine} and {other.engine} engines "
                                                           f"disagree: {differs}"))
    return outcome


def check_expectations(expect: dict, conclusions: dict) -> list[Failure]:
    """Failures of one case's expectations against its conclusions (code -> document.Conclusion)."""
    failures = []
    must_fire = list(dict.fromkeys(list(expect.get("fires", [])) + list(expect.get("support", {}))
                                   + list(expect.get("because", {}))))
    for code in must_fire:
        if code not in conclusions:
            failures.append(Failure("missing", code, f"{code} was expected but not concluded"))
    for code in expect.get("absent", []):
        if code in conclusions:
            failures.append(Failure("unexpected", code,
                                    f"{code} ({conclusions[code].support}) was concluded but expected absent"))
    for code, support in expect.get("support", {}).items():
        if code in conclusions and conclusions[code].support != support:
            failures.append(Failure("support", code, f"{code} is {conclusions[code].support}, expected {support}"))
    for code, entries in expect.get("because", {}).items():
        if code in conclusions:
            lacking = [e for e in entries if e not in conclusions[code].because]
            if lacking:
                failures.append(Failure("because", code, f"{code}'s because lacks {', '.join(lacking)} "
                                        f"(it is: {', '.join(conclusions[code].because)})"))
    return failures


def run_selected(kb, root, paths=None, engine_names=(engines.DEFAULT,)) -> tuple[list, RuleTestRun]:
    """(test files, run) for ``bmdkb test``: every test file of ``root``, or those named by or under
    ``paths``; with ``paths`` the per-rule tally counts only the rules whose tests were selected.
    Cases run on the first of ``engine_names``; every other engine must agree with it on each."""
    files = load_test_files(root, paths or None, kb=kb)
    scope = sorted({f.rule for f in files}, key=list(kb.rules).index) if paths else None
    first, *rest = engine_names
    evaluator = Evaluator(kb, now=TEST_NOW, engine=first)
    others = [Evaluator(kb, now=TEST_NOW, engine=name) for name in rest]
    return files, run(kb, files, rules=scope, evaluator=evaluator, others=others)
