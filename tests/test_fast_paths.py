"""The speed work keeps behaviour: the fast schema check never accepts what jsonschema
rejects, exact ratios equal the Fraction arithmetic they replace, facts withheld from
the rule engine match no pattern, a session without any firing is deleted safely, and
the on-disk knowledge-base cache misses on any changed byte."""
from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from fractions import Fraction

import pytest

from bmdkb.engine.adapters.dxa import adapter as case_adapter

from bmdkb.engine.common import fastcheck

from bmdkb.engine.kb import cache as kbcache

from bmdkb.engine.kb import knowledge_base

from bmdkb.engine.kb import schemas
from bmdkb.engine.adapters.dxa.adapter import _exact, _ratio, case_to_facts
from bmdkb.engine.kb.conditions import TRUE, evaluate
from bmdkb.engine.run.relevance import Relevance

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

ODD = [None, True, False, 0, 1, -1, 0.0, 1.5, -0.02, 912, 2.5, 2.5000001, 0.5, 0.50001, float("nan"),
       float("inf"), "", "x", "2023-02-30", "2023-2-3", "2023-02-03", "２０２３-01-01", "2023-01-01T00:00", [], {},
       [1], {"a": 1}, 3.0, 130, 131, -10, -10.1, 10, 1e308]


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _mutate(rng, doc):
    doc = copy.deepcopy(doc)
    paths = list(_paths(doc))[1:]
    for _ in range(rng.choice([1, 1, 2])):
        path = rng.choice(paths)
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            how = rng.random()
            if how < 0.7:
                parent[path[-1]] = rng.choice(ODD)
            elif how < 0.85 and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[rng.choice(["extra", "region", "side", "bmd_g_cm2", "t_score", "id"])] = rng.choice(ODD)
        except (KeyError, IndexError, TypeError):
            pass
    return doc


def test_fast_check_never_accepts_what_jsonschema_rejects():
    full = schemas.validator("case")
    fast = fastcheck.compile_schema(json.loads(case_adapter.CASE_SCHEMA.read_text()))
    assert fast is not None and full.schema == json.loads(case_adapter.CASE_SCHEMA.read_text())
    rng = random.Random(1)
    vouched = rejected = 0
    for case in generate.generate(800, seed=11, bad=0.1):
        for doc in [case] + [_mutate(rng, case) for _ in range(8)]:
            valid = next(full.iter_errors(doc), None) is None
            if fast(doc):
                assert valid, json.dumps(doc, default=str)[:300]
                vouched += 1
            rejected += not valid
    assert vouched > 1500 and rejected > 3000  # both sides of the question were asked often


def test_fast_check_refuses_to_compile_a_schema_outside_its_subset():
    assert fastcheck.compile_schema({"type": "object", "properties": {"a": {"pattern": "^x"}}}) is None
    assert fastcheck.compile_schema({"type": "string", "format": "email"}) is None
    assert fastcheck.compile_schema({"anyOf": [{"type": "string"}]}) is None
    check = fastcheck.compile_schema({"type": "object", "required": ["n"], "additionalProperties": False,
                                      "properties": {"n": {"type": "integer", "minimum": 1}}})
    assert [check(d) for d in ({"n": 1}, {"n": True}, {"n": 1.0}, {"n": 0}, {}, {"n": 1, "m": 2})] == \
        [True, False, False, False, False, False]


def test_exact_ratio_equals_the_fraction_it_replaces():
    rng = random.Random(5)
    for _ in range(20000):
        a = _exact(round(rng.uniform(0.01, 2.5), rng.choice([1, 2, 3, 4, 6])))
        b = _exact(round(rng.uniform(-0.3, 0.3), rng.choice([1, 2, 3, 4, 6])))
        if a == 0:
            continue
        assert _ratio(b, a) == float(Fraction(b) / Fraction(a))
        assert _ratio(b, a, 100) == float(Fraction(b) / Fraction(a) * 100)
        assert abs(_ratio(b, a, 100)) == float(abs(Fraction(b) / Fraction(a) * 100))


def test_facts_withheld_from_the_engine_match_no_pattern(kb):
    relevance = Relevance(kb)
    patterns = [p for rule in kb.rules.values() for p in rule.patterns]
    withheld = sent = 0
    for case in generate.generate(500, seed=13):
        for fact in case_to_facts(case, kb.domain_data["treatment_classes"]):
            view = fact.engine_view()
            matches = any(p.fact == fact.type and evaluate(p.tests, fact.fields) == TRUE for p in patterns)
            if relevance.could_match(view):
                sent += 1
            else:
                assert not matches, (fact.type, fact.fields)
                withheld += 1
    assert withheld > 2000 and sent > 2000


SESSION_WITHOUT_FIRINGS = """
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.adapters.dxa.adapter import case_to_facts
from bmdkb.engine.run.runtime import Runtime
kb = knowledge_base.load()
for size in (8 << 20, 8 << 20):  # leave dirty memory where the engine will allocate its sessions
    junk = bytearray(b"\\xff") * size
    del junk
runtime = Runtime(kb)
firings, asserted = runtime.run(case_to_facts({"case_id": "one-scan", "scans": [{"date": "2020-01-01"}]}, {}))
print(len(firings), len(asserted))
"""


def test_a_case_in_which_no_rule_fires_first_in_a_fresh_process_does_not_crash():
    """durable_rules frees a never-initialised pointer when a session in which no action
    started is deleted; without the runtime's end-of-case marker this crashed (SIGSEGV)."""
    done = subprocess.run([sys.executable, "-c", SESSION_WITHOUT_FIRINGS], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert (done.returncode, done.stdout) == (0, "0 0\n"), done.stderr[-500:]


def test_cached_knowledge_base_misses_on_any_changed_byte(shipped_kb_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("BMDKB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BMDKB_NO_CACHE", raising=False)
    first = kbcache.load(shipped_kb_copy)
    assert len(list((tmp_path / "cache").glob("kb-*.pickle"))) == 1
    again = kbcache.load(shipped_kb_copy)
    assert again.digest == first.digest and again.rules.keys() == first.rules.keys()
    rule = next((shipped_kb_copy / "knowledge" / "rules").rglob("pattern.spine_up_hip_down.yaml"))
    rule.write_text(rule.read_text().replace("version: 1", "version: 2"))
    changed = kbcache.load(shipped_kb_copy)
    assert changed.rules["pattern.spine_up_hip_down"].version == 2
    assert len(list((tmp_path / "cache").glob("kb-*.pickle"))) == 2
    # a knowledge base that fails its checks raises every time and is never stored
    rule.write_text(rule.read_text().replace("kind: pattern", "kind: nonsense"))
    for _ in range(2):
        with pytest.raises(knowledge_base.KnowledgeBaseError):
            kbcache.load(shipped_kb_copy)
    assert len(list((tmp_path / "cache").glob("kb-*.pickle"))) == 2
