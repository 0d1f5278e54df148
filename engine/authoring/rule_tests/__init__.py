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
    load_test_files(kb_root, paths=None, kb=None) -> list[RuleTestFile]
        every test file (or those under ``paths``), validated, each case derived and
        checked against the case contract; all problems raised at once (KnowledgeBaseError)
    run(kb, test_files, rules=None, evaluator=None) -> RuleTestRun
        evaluate every case with one Evaluator, check its expectations, and tally per rule
    RuleTestRun.outcomes   [CaseOutcome]  .test, .evaluation, .conclusions {code: support},
                                      .fired (rule ids), .failures [Failure], .passed, .skipped
    RuleTestRun.rules      {rule id: RuleResult}  .as_expected / .missed / .unexpected (case names
                                      from the rule's own test file), .fired_in / .absent_in
                                      (case keys across all test files), .covered
    RuleTestRun.coverage() -> Coverage    .covered, .total, .percent, .uncovered
    RuleTestRun.ok(threshold=None) -> bool
    why_not(kb, evaluation, code, support=None) -> list[str]   short why-not lines, from engine/explain

A rule *fired* in a case when it appears in Evaluation.firings and was *absent*
when it does not; it is *covered* when it fired in at least one case and was
absent in at least one (both sides of its condition are exercised).

The package, one job per module: model.py (the records), paths.py (input-path edits),
derive.py (a test case -> its input case), load.py (finding and checking test files),
running.py (evaluating and tallying), whynot.py (short why-not lines). Reports are
rendered in cli/render/ruletests.py.
"""
from __future__ import annotations

from bmdkb.engine.authoring.rule_tests.derive import derive_case
from bmdkb.engine.authoring.rule_tests.load import discover, load_test_files
from bmdkb.engine.authoring.rule_tests.model import (SUFFIX, TEST_NOW, TEST_TODAY, CaseOutcome, Coverage, Failure,
                                                     RuleResult, RuleTestCase, RuleTestFile, RuleTestRun)
from bmdkb.engine.authoring.rule_tests.running import check_expectations, run, run_case, run_selected
from bmdkb.engine.authoring.rule_tests.whynot import describe_tests, why_not

__all__ = ["SUFFIX", "TEST_NOW", "TEST_TODAY", "CaseOutcome", "Coverage", "Failure", "RuleResult", "RuleTestCase",
           "RuleTestFile", "RuleTestRun", "check_expectations", "derive_case", "describe_tests", "discover",
           "load_test_files", "run", "run_case", "run_selected", "why_not"]
