"""The benchmark's floor (benchmarks/floor.py: the shipped rules' decisions in plain Python)
must decide exactly what the engine decides, or the speed comparison is not honest: the
same conclusions with the same support, and the same rules fired the same number of times."""
from __future__ import annotations

import dataclasses
import sys
from collections import Counter

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import floor  # noqa: E402
import generate  # noqa: E402


def test_floor_and_engine_agree_on_every_generated_case(kb, evaluator):
    plain = floor.Floor(kb)
    fired_anywhere = Counter()
    patterns = 0
    for case in generate.generate(3000, seed=11):
        engine = floor.engine_decisions(evaluator.evaluate(case, case["case_id"]))
        assert plain.decide(case) == engine, case["case_id"]
        fired_anywhere.update(engine[1])
        patterns += "pattern.spine_up_hip_down" in engine[0]
    # The comparison covers the whole knowledge base: every rule fires somewhere in the mix.
    assert sorted(set(kb.rules) - set(fired_anywhere)) == []
    assert 300 < patterns < 1000  # about a fifth of the cases are discordant


def test_the_floor_reads_thresholds_from_the_knowledge_base(kb):
    """A changed parameter moves the floor too (and so the agreement test keeps meaning something)."""
    case = next(c for c in generate.generate(500, seed=12) if len(c["scans"]) == 2
                and c.get("labs", {}).get("vitamin_d_25oh_ng_ml") == 25)
    assert floor.Floor(kb).decide(case)[1]["evidence.low_vitamin_d"] == 0
    parameters = dict(kb.parameters, vitamin_d_deficiency_ng_ml=dict(kb.parameters["vitamin_d_deficiency_ng_ml"], value=30))
    assert floor.Floor(dataclasses.replace(kb, parameters=parameters)).decide(case)[1]["evidence.low_vitamin_d"] == 1
