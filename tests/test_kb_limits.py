"""The knowledge base as input: load (and so every command) refuses, with exit 2 naming file,
field and limit, the conditions the rule engine cannot run and files outside the root; the
same with and without the checked-knowledge-base cache."""
from __future__ import annotations

import json

import durable_rules_engine as _engine
import pytest

from authoring_kb import edit
from bmdkb.cli.main import cli
from bmdkb.engine.kb import cache as kbcache
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.common import limits
from bmdkb.engine.run.compiler import SINK_RULE, compile_rule
from bmdkb.engine.run.enginejson import dumps
from bmdkb.engine.run.evaluate import Evaluator
from bmdkb.engine.adapters.dxa.adapter import read_case

from conftest import DEMO_CASE

PAT = "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml"
SOURCE = "provenance/sources/discordant-bmd-article.yaml"


def nested_any(depth: int) -> str:
    return "any: [{" * depth + "recency: 0" + "}]" * depth


def refuses(runner, root, *expected):
    result = runner.invoke(cli, ["evaluate", str(DEMO_CASE), "--kb", str(root)])
    assert result.exit_code == 2 and result.stdout == "", result.output
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


def test_an_in_list_over_the_limit_is_refused_naming_field_and_limit(runner, mini_kb_root):
    values = ", ".join(["lumbar_spine"] + [f"s{i}" for i in range(600)])
    edit(mini_kb_root / PAT, "site: lumbar_spine,", f"site: {{in: [{values}]}},")
    refuses(runner, mini_kb_root, f"Error: {PAT}: when[0].where.site.in: 601 values; the rule engine takes at most "
                                  f"{limits.MAX_IN_VALUES} per `in` list (limit)")


def test_any_nested_over_the_limit_is_refused(runner, mini_kb_root):
    edit(mini_kb_root / PAT, "direction: increase}", f"direction: increase, {nested_any(5)}}}")
    refuses(runner, mini_kb_root, f"{PAT}: when[0].where" + ".any[0]" * limits.MAX_ANY_DEPTH + ".any",
            f"at most {limits.MAX_ANY_DEPTH} (limit)")


def test_conditions_at_the_limits_compile_and_run_in_the_engine(mini_kb_root):
    """The margin is real: the largest `in` list and deepest `any` allowed work in durable_rules."""
    values = ", ".join(["lumbar_spine"] + [f"s{i}" for i in range(limits.MAX_IN_VALUES - 1)])
    edit(mini_kb_root / PAT, "site: lumbar_spine, direction: increase}",
         f"site: {{in: [{values}]}}, direction: increase, {nested_any(limits.MAX_ANY_DEPTH)}}}")
    kb = knowledge_base.load(mini_kb_root)
    evaluation = Evaluator(kb).evaluate(read_case(DEMO_CASE), "demo.yaml")
    assert [c["code"] for c in evaluation.result["conclusions"]] == ["pattern.spine_up_hip_down"]
    # the compiled condition itself, handed to durable_rules directly
    rule = kb.rules["pattern.spine_up_hip_down"]
    handle = _engine.create_ruleset("limits", dumps({"r": compile_rule(rule, 1), "sink": SINK_RULE}))
    _engine.delete_ruleset(handle)


@pytest.mark.parametrize("how", ["symlink", "dotdot"])
@pytest.mark.parametrize("cache", [False, True])
def test_a_source_text_outside_the_root_is_refused_with_and_without_the_cache(runner, mini_kb_root, tmp_path,
                                                                            monkeypatch, how, cache):
    if cache:
        monkeypatch.delenv("BMDKB_NO_CACHE", raising=False)
        monkeypatch.setenv("BMDKB_CACHE_DIR", str(tmp_path / "cache"))
        assert kbcache.load(mini_kb_root).sources   # the good knowledge base is cached first
    text = mini_kb_root / "provenance/sources/discordant-bmd-article.txt"
    outside = tmp_path / "outside.txt"
    outside.write_bytes(text.read_bytes())   # the very same bytes
    if how == "symlink":
        text.unlink()
        text.symlink_to(outside)
        name = "discordant-bmd-article.txt"
    else:
        edit(mini_kb_root / SOURCE, "text_file: discordant-bmd-article.txt", "text_file: ../../../outside.txt")
        name = "outside.txt"
    message = refuses(runner, mini_kb_root, f"Error: {SOURCE}: text_file: {name!r} resolves outside the "
                                            f"knowledge-base root ({outside})")
    lint = runner.invoke(cli, ["lint", "--kb", str(mini_kb_root), "--format", "json"])
    assert "outside-root" in {f["check"] for f in json.loads(lint.stdout)["findings"]}
    assert message


def test_a_condition_durable_rules_refuses_to_compile_is_refused_at_load_not_at_every_case(runner, mini_kb_root):
    """Within the static limits durable still refuses some conditions (an `any` of 16 groups of two
    tests: error 113); load compiles each rule once, so this is exit 2 naming the rule file."""
    groups = ", ".join(f"{{recency: {i}, interval: {i}}}" for i in range(20))
    edit(mini_kb_root / PAT, "direction: increase}", f"direction: increase, any: [{groups}]}}")
    refuses(runner, mini_kb_root, f"Error: {PAT}: when: durable_rules cannot compile this condition "
                                  "(Could not create ruleset, error code: 113)")
    lint = runner.invoke(cli, ["lint", "--kb", str(mini_kb_root), "--format", "json"])
    assert {(f["check"], f["file"]) for f in json.loads(lint.stdout)["findings"]} >= {("engine-limit", PAT)}
