"""Every contract code, and every code added beside them, is produced by the situation it names,
and not by its near miss.

The cases are the rule tests kept next to the rules (knowledge/rules/**/*.test.yaml):
each `fires` expectation is a case that must produce the code, each `absent` one a
near-miss (usually one value changed) that must not.
"""
from __future__ import annotations

import json

import pytest

from bmdkb.engine.authoring import rule_tests

from conftest import REPO

_CODES = json.loads((REPO / "schemas" / "conclusion-codes.json").read_text())
CONTRACT = _CODES["codes"]
EXTRAS = _CODES.get("extras", [])


@pytest.fixture(scope="module")
def test_run(kb):
    return rule_tests.run(kb, rule_tests.load_test_files(REPO, kb=kb))


def test_every_rule_test_expectation_holds(test_run):
    failures = [f"{o.test.file} #{o.test.index} {o.test.name}: {f}" for o in test_run.outcomes for f in o.failures]
    assert failures == []


@pytest.mark.parametrize("code", [entry["code"] for entry in CONTRACT + EXTRAS])
def test_code_fires_on_a_case_and_not_on_its_near_miss(test_run, code):
    fired = [o for o in test_run.outcomes if code in o.conclusions and code in o.test.expect.get("fires", [])]
    near_miss = [o for o in test_run.outcomes if code not in o.conclusions and code in o.test.expect.get("absent", [])]
    assert fired, f"no test case produces {code}"
    assert near_miss, f"no near-miss test case shows {code} absent"


def test_conclusion_kinds_match_the_contract(kb):
    for entry in CONTRACT:
        assert {r.kind for r in kb.rules_concluding(entry["code"])} == {entry["kind"]}, entry["code"]
