"""Loading the knowledge base: every file validated, every quote verified, coverage complete."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from bmdkb.engine.kb import knowledge_base

from bmdkb.engine.kb import schemas
from bmdkb.engine.common.errors import KnowledgeBaseError
from bmdkb.engine.kb.knowledge_base import verify_citation

REPO = Path(__file__).resolve().parent.parent


def load_problems(root) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as info:
        knowledge_base.load(root)
    return [str(p) for p in info.value.problems]


def edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_every_schema_is_a_valid_2020_12_schema():
    # Every schema file is found (an empty list would pass the loop below vacuously), declares
    # 2020-12 and passes check_schema (inside schemas.validator).
    files = sorted(p.name.removesuffix(".schema.json") for p in (REPO / "schemas").glob("*.schema.json"))
    assert len(files) >= 15 and schemas.names() == files
    for name in files:
        schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert isinstance(schemas.validator(name), jsonschema.Draft202012Validator), name
    with pytest.raises(jsonschema.SchemaError):  # and check_schema is what would catch a bad one
        type(schemas.validator("case")).check_schema({"type": "no-such-type"})


def test_shipped_source_is_registered_with_its_sha256(kb):
    source = kb.sources["discordant-bmd-article"]
    seed = REPO.parent / "shared" / "seed" / "000_46de0964ea55b786.txt"
    assert source.meta["sha256"] == hashlib.sha256(source.text.encode()).hexdigest()
    if seed.exists():  # the registered text is the seed article, byte for byte
        assert seed.read_bytes() == (REPO / "provenance" / "sources" / source.meta["text_file"]).read_bytes()
    assert source.meta["last_updated"] == "2025-10-01"


def test_every_citation_in_the_shipped_kb_verifies(kb):
    count = 0
    for rule in kb.rules.values():
        assert rule.citations, rule.id
        for citation in rule.citations:
            assert verify_citation(kb, citation) is None, (rule.id, citation.quote)
            assert citation.quote in kb.sources[citation.source].text
            count += 1
    assert count >= len(kb.rules)


def test_reference_registry_marks_what_is_unresolved(kb):
    assert kb.references[1]["status"] == "unresolved"      # cited, never listed
    assert kb.references[2]["status"] == "resolved"        # Study of Osteoporotic Fractures
    assert "Study of Osteoporotic Fractures" in kb.references[2]["record"]["title"]
    assert kb.references[3]["status"] == "unresolved"      # "2024 guideline" is a topic overview


def test_a_quote_not_in_the_source_is_a_load_error(mini_kb_root):
    edit(mini_kb_root / "knowledge/rules/check/check.fall_risk.considered.yaml",
         'quote: "Review fall risk factors"', 'quote: "Review all fall risk factors"')
    assert load_problems(mini_kb_root) == [
        "knowledge/rules/check/check.fall_risk.considered.yaml: citations[0].quote: quote not found verbatim in "
        "discordant-bmd-article: 'Review all fall risk factors'"]


def test_a_changed_source_text_fails_its_sha256(mini_kb_root):
    text = mini_kb_root / "provenance/sources/discordant-bmd-article.txt"
    text.write_text(text.read_text().replace("Hip BMD", "Hip bmd"))
    found = load_problems(mini_kb_root)
    assert found[0].startswith("provenance/sources/discordant-bmd-article.yaml: sha256: the text file's sha256 is ")


def test_schema_problems_name_file_and_field(mini_kb_root):
    edit(mini_kb_root / "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml", "version: 1", "version: one")
    edit(mini_kb_root / "knowledge/rules/check/check.fall_risk.considered.yaml", "{fracture_risk: unknown}",
         "{fracture_risk: {is: unknown}}")
    found = load_problems(mini_kb_root)
    assert "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml: version: 'one' is not of type 'integer'" in found
    assert any(p.startswith("knowledge/rules/check/check.fall_risk.considered.yaml: when[1].where.any[0]"
                            ".fracture_risk:") for p in found)


def test_duplicate_ids_unknown_parameters_and_fact_types(mini_kb_root):
    rules = mini_kb_root / "knowledge/rules"
    copy = rules / "check/check.fall_risk.copy.yaml"
    copy.write_text((rules / "check/check.fall_risk.considered.yaml").read_text())
    edit(rules / "measurement/measurement.significant_increase.yaml", "significance_threshold_lsc", "significance_lsc")
    edit(rules / "pattern/pattern.spine_up_hip_down.yaml", "fact: site_trend\n    as: spine", "fact: site_trends\n    as: spine")
    assert load_problems(mini_kb_root) == [
        "knowledge/rules/check/check.fall_risk.copy.yaml: id: duplicate rule id 'check.fall_risk.considered' "
        "(also in knowledge/rules/check/check.fall_risk.considered.yaml)",
        "knowledge/rules/measurement/measurement.significant_increase.yaml: when[0].where.change_in_lsc.gte.param: "
        "unknown parameter 'significance_lsc'",
        "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml: when[0].fact: no fact type 'site_trends' is "
        "declared or asserted by any rule",
    ]


def test_yaml_with_object_tags_in_the_kb_is_refused(mini_kb_root):
    (mini_kb_root / "knowledge/rules/check/evil.yaml").write_text("id: !!python/object/apply:os.getcwd []\n")
    assert load_problems(mini_kb_root)[0].startswith(
        "knowledge/rules/check/evil.yaml: not plain YAML data: could not determine a constructor for the tag")


def test_digests_change_with_content_only(mini_kb_root):
    before = knowledge_base.load(mini_kb_root)
    edit(mini_kb_root / "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml", "version: 1", "version: 2")
    bumped = knowledge_base.load(mini_kb_root)
    rule = "pattern.spine_up_hip_down"
    assert bumped.rules[rule].digest == before.rules[rule].digest  # a version bump is not a content change
    assert bumped.digest != before.digest                           # but the files differ
    edit(mini_kb_root / "knowledge/facts/parameters.yaml", "value: 1\n", "value: 2\n")
    changed = knowledge_base.load(mini_kb_root)
    assert changed.rules["measurement.significant_decrease"].digest != before.rules["measurement.significant_decrease"].digest
    assert changed.rules[rule].digest == before.rules[rule].digest  # it uses no parameter


def _article_lines(kb) -> list[str]:
    return [line.strip() for line in kb.sources["discordant-bmd-article"].text.splitlines() if line.strip()]


def test_coverage_map_accounts_for_every_line_of_the_article(kb):
    covered = [s["text"] for section in kb.coverage["sections"] for s in section["statements"]]
    skipped = [item["text"] for item in kb.coverage["not_encoded"]]
    lines = _article_lines(kb)
    assert sorted(covered + skipped) == sorted(lines)
    assert len(set(covered + skipped)) == len(covered + skipped) or len(lines) != len(set(lines))


def test_coverage_map_names_real_rules_and_every_rule(kb):
    mapped = {rule for section in kb.coverage["sections"] for s in section["statements"] for rule in s["rules"]}
    assert mapped - set(kb.rules) == set()
    assert set(kb.rules) - mapped == set()
    sections = kb.sources["discordant-bmd-article"].meta["sections"]
    assert all(section["section"] in sections for section in kb.coverage["sections"])


def test_every_contract_code_is_concluded_by_some_rule(kb):
    contract = json.loads((REPO / "schemas" / "conclusion-codes.json").read_text())
    codes = {entry["code"] for entry in contract["codes"]}
    assert len(codes) == 25
    assert codes - set(kb.codes()) == set()


def test_a_missing_required_file_is_named(mini_kb_root):
    (mini_kb_root / "knowledge/coverage.yaml").unlink()
    assert load_problems(mini_kb_root) == ["knowledge/coverage.yaml: required file is missing or unreadable"]


def test_every_engine_subpackage_is_installed():
    """A non-editable install ships only the packages pyproject lists."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    for folder in ("engine", "cli"):
        for init in (REPO / folder).rglob("__init__.py"):
            package = "bmdkb." + ".".join(init.parent.relative_to(REPO).parts)
            assert package in listed, f"{package} is missing from [tool.setuptools] packages"
