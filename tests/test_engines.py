"""The two rule engines (durable_rules, CLIPS) run the same compiled knowledge base and must agree
exactly: the same firings (rules, the fact each condition matched, in the same order), the same
asserted facts, the same result document, on every shipped case, every rule-test case, the
benchmark's generated cases (good and spoiled) and arbitrary facts (hypothesis). `bmdkb test
--engines all` reports a disagreement as a failed case."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmdkb.cli.main import cli
from bmdkb.engine.kb.conditions import AnyOf, referenced_fields
from bmdkb.engine.authoring import rule_tests
from bmdkb.engine.common.errors import CaseError
from bmdkb.engine.run import clips_runtime, engines
from bmdkb.engine.run.cases import read_case
from bmdkb.engine.run.evaluate import Evaluator
from bmdkb.engine.run.facts import Fact

from conftest import CASES, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

EXAMPLES = int(os.environ.get("BMDKB_FUZZ_EXAMPLES", "40"))
TODAY = dt.date(2030, 1, 1)


@pytest.fixture(scope="module")
def pair(kb):
    return Evaluator(kb, engine="durable"), Evaluator(kb, engine="clips")


def agree(pair, case, name="case"):
    first, second = (e.evaluate(case, name, today=TODAY) for e in pair)
    assert engines.disagreement(first, second) is None, name
    return first


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_case(pair, path):
    evaluation = agree(pair, read_case(path, str(path)), path.name)
    assert evaluation.firings, "a shipped case fires rules"


def test_every_rule_test_case_on_both_engines(kb):
    files, run = rule_tests.run_selected(kb, REPO, engine_names=("durable", "clips"))
    assert sum(len(f.cases) for f in files) > 100
    assert not [f.message for o in run.outcomes for f in o.failures if f.kind == "engines"]
    assert run.ok(100)


def test_generated_cases_good_and_spoiled(pair):
    compared = refused = 0
    for case in generate.generate(400, seed=16, bad=0.1):
        try:
            agree(pair, case, case["case_id"])
            compared += 1
        except CaseError:
            refused += 1
    assert compared > 300 and refused > 0


def test_the_comparison_sees_a_changed_firing_order(kb, pair):
    """The check that guards both engines is not blind: reordering or dropping firings is caught."""
    case = read_case(CASES / "two-hip-declines-on-alendronate.yaml")
    first = pair[0].evaluate(case, "x", today=TODAY)
    second = pair[1].evaluate(case, "x", today=TODAY)
    second.firings[0], second.firings[1] = second.firings[1], second.firings[0]
    assert "firing 1 differs" in engines.disagreement(first, second)
    second.firings.pop()
    assert engines.disagreement(first, second)


def test_the_agenda_follows_priority_then_rule_then_recency(kb):
    """What makes the order agree: stage priority, then knowledge-base order, then the activation
    with the most recent facts (CLIPS's LEX), as durable_rules orders its agenda."""
    order = clips_runtime.agenda_order(kb)
    stages = [kb.stage_index(kb.rules[r].kind) for r in order]
    assert stages == sorted(stages)
    constructs = clips_runtime.compile_kb(kb)
    assert sum(c.startswith("(defrule ") for c in constructs) == len(kb.rules)


# ---------------------------------------------------------------- arbitrary facts

def _kind(value) -> str:
    return "bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "str"


def _pool(kb) -> dict:
    """Fact type -> field -> values worth trying: every literal the rules test, its neighbours,
    the same number as int and float, and absence (None). Values keep the kinds the rules
    compare the field with (the case contract gives nothing else; see the test below)."""
    pool: dict = {}
    for rule in kb.rules.values():
        for pattern in rule.patterns:
            fields = pool.setdefault(pattern.fact, {})
            for test in referenced_fields(pattern.tests):
                values = fields.setdefault(test.field, {None})
                options = test.value if test.op == "in" else (test.value,)
                for value in options:
                    values.add(value)
                    if _kind(value) == "number":
                        values.update({value - 1, value + 1, float(value), value + 1e-9, value - 1e-9, -value, 0})
                        if float(value).is_integer():
                            values.add(int(value))
                    elif _kind(value) == "str":
                        values.update({value.upper(), value + " ", ""})
                    else:
                        values.update({True, False})
    return {t: {f: sorted(v, key=repr) for f, v in fields.items()} for t, fields in pool.items()}


@st.composite
def fact_sets(draw, pool):
    facts = []
    for fact_type in sorted(pool):
        for n in range(draw(st.integers(0, 3))):
            fields = {}
            for field, values in pool[fact_type].items():
                value = draw(st.sampled_from(values))
                if value is not None:
                    fields[field] = value
            facts.append(Fact(f"f{len(facts) + 1}", fact_type, fields))
    return facts


def test_arbitrary_facts_fire_alike(kb):
    """Hypothesis: any mix of facts built from the values the rules test (types mixed, numbers
    as int and float, at and around each threshold, fields absent) fires the same rules on the
    same facts in the same order on both engines, and asserts the same facts."""
    durable, clips = engines.runtime(kb, "durable"), engines.runtime(kb, "clips")
    pool = _pool(kb)

    @settings(max_examples=EXAMPLES * 5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(fact_sets(pool))
    def check(facts):
        first, second = durable.run(facts), clips.run(facts)
        assert engines.firing_trace(first[0]) == engines.firing_trace(second[0])
        assert [f.to_dict() for f in first[1]] == [f.to_dict() for f in second[1]]

    check()


def test_a_string_compared_with_a_number_is_not_satisfied_on_clips(kb):
    """The one known divergence, outside the case contract: durable_rules compares a string field
    with a numeric threshold as text ("99" > 10.5, "x" > 10.5); CLIPS, like the explainer's
    three-valued tests (engine/kb/conditions.py), holds such a test not satisfied. No valid case
    can carry it (the schema types every number), so the engines agree on every case."""
    from bmdkb.engine.kb.conditions import FALSE, evaluate_test

    rule = kb.rules["evidence.high_calcium"]
    value_test = next(t for t in referenced_fields(rule.patterns[0].tests) if t.op == "gt")
    facts = [Fact("f1", "lab", {"name": "calcium_mg_dl", "value": "99"})]
    assert evaluate_test(value_test, facts[0].fields) == FALSE
    assert engines.runtime(kb, "clips").run(facts)[0] == []
    assert [f.rule for f in engines.runtime(kb, "durable").run(facts)[0]] == ["evidence.high_calcium"]


def test_nested_any_conditions_translate(kb):
    """Every shipped `any:` condition reaches CLIPS as an `or` of `and` groups."""
    nested = [r for r in kb.rules.values() for p in r.patterns if any(isinstance(t, AnyOf) for t in p.tests)]
    text = "\n".join(clips_runtime.compile_kb(kb))
    assert not nested or "(or (and TRUE" in text


# ---------------------------------------------------------------- commands

def test_test_engines_all_passes(runner):
    result = runner.invoke(cli, ["test", "--engines", "all"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_test_engines_all_reports_a_disagreement(runner, monkeypatch):
    real = clips_runtime.ClipsRuntime.run

    def drops_the_last_firing(self, facts):
        firings, asserted = real(self, facts)
        return firings[:-1], asserted

    monkeypatch.setattr(clips_runtime.ClipsRuntime, "run", drops_the_last_firing)
    result = runner.invoke(cli, ["test", "--engines", "all"])
    assert result.exit_code == 3
    assert "the durable and clips engines disagree" in result.output


def test_unknown_engine_is_bad_input(runner):
    assert runner.invoke(cli, ["test", "--engines", "drools"]).exit_code == 2
    assert runner.invoke(cli, ["evaluate", str(CASES / "concordant-gain.yaml"), "--engine", "drools"]).exit_code == 2


def test_evaluate_output_is_the_same_on_clips(runner):
    case = str(CASES / "spine-up-hip-down.yaml")
    for fmt in ("json", "text", "markdown"):
        first = runner.invoke(cli, ["evaluate", case, "--format", fmt])
        second = runner.invoke(cli, ["evaluate", case, "--format", fmt, "--engine", "clips"])
        assert first.exit_code == second.exit_code == 0
        assert first.stdout == second.stdout


def test_batch_lines_are_the_same_on_clips(kb, tmp_path):
    from bmdkb.engine.run import batch

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(c) + "\n" for c in generate.generate(60, seed=5, bad=0.1)))
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    for engine in engines.ENGINES:
        batch.run(kb, source, tmp_path / f"{engine}.jsonl", workers=1, engine=engine, now=now, today=TODAY)
    assert (tmp_path / "durable.jsonl").read_bytes() == (tmp_path / "clips.jsonl").read_bytes()


def test_a_clips_run_never_loads_durable_rules(tmp_path):
    """The second engine stands alone (durable_rules does not import on Python 3.13)."""
    code = ("import sys; from bmdkb.engine.kb import cache; from bmdkb.engine.run.evaluate import Evaluator; "
            "from bmdkb.engine.run.cases import read_case; kb = cache.load(sys.argv[1]); "
            "Evaluator(kb, engine='clips').evaluate(read_case(sys.argv[2]), 'x'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('durable', 'durable_rules_engine')))")
    env = {k: v for k, v in os.environ.items() if k != "BMDKB_NO_CACHE"} | {"BMDKB_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-c", code, str(REPO), str(CASES / "concordant-gain.yaml")]
    subprocess.run(command, check=True, capture_output=True, env=env)   # warm the checked-KB cache:
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout  # (a cold read
    # compile-checks each rule on durable_rules, as lint does)
    assert out.strip() == "[]"


def test_a_construct_clips_refuses_says_why():
    """Constructs are built with clipspy's slow error router off; a refused one is built again
    with it on, so the error carries CLIPS's own message."""
    import clips

    with pytest.raises(clips.CLIPSError, match="bogus-fn"):
        clips_runtime._build(clips.Environment(), ["(defrule broken (x) => (bogus-fn))"])


def test_fact_type_names_cannot_collide_with_clips_words(kb):
    text = "\n".join(clips_runtime.compile_kb(kb))
    assert "(deftemplate bmdkb-site_change " in text and "(deftemplate site_change " not in text
