"""Checks on rule tests as files (running them is `bmdkb test`)."""
from __future__ import annotations

from bmdkb.engine.authoring.rule_tests import load_test_files
from bmdkb.engine.common.errors import KnowledgeBaseError
from bmdkb.engine.authoring.lint.registry import check


@check("rule-test-invalid", "error", "a rule test file is malformed, names no rule, or describes a case that is not valid")
def rule_test_invalid(draft):
    """The problems of rule test files that are malformed, name no rule, or describe an invalid case."""
    try:
        load_test_files(draft.root, kb=draft.kb)
    except KnowledgeBaseError as exc:
        for p in exc.problems:
            yield p.file, p.field, p.message


@check("rule-untested", "warning", "a rule has no test file next to it")
def rule_untested(draft):
    """Rules with no test file next to them."""
    for rule in draft.kb.rules.values():
        test_file = draft.root / rule.file.removesuffix(".yaml")
        if not test_file.with_name(test_file.name + ".test.yaml").is_file():
            yield rule.file, "", f"no test file {rule.id}.test.yaml next to the rule"
