"""The seam between the generic engine and the DXA domain, as a knowledge base uses it:
kb.yaml names the adapter, an unknown name is a bad knowledge base, the headline stage is
data, and the adapter supplies what the engine used to know about bone density."""
from __future__ import annotations

from bmdkb.cli.main import cli
from bmdkb.engine import adapters
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.kb.model import KnowledgeBase


def test_kb_yaml_names_the_adapter_the_engine_uses(kb, evaluator):
    assert kb.meta["adapter"] == "dxa"
    assert evaluator.adapter is adapters.named("dxa") is adapters.for_kb(kb)
    assert set(kb.domain_data) == {spec.key for spec in evaluator.adapter.data_files} == {"treatment_classes", "fhir_binding", "fhir_units"}
    assert kb.domain_data["treatment_classes"]["denosumab"] == "rankl_inhibitor"


def test_an_unknown_adapter_is_a_bad_knowledge_base(mini_kb_root, runner):
    kb_yaml = mini_kb_root / "knowledge" / "kb.yaml"
    kb_yaml.write_text(kb_yaml.read_text().replace("adapter: dxa", "adapter: fhir"))
    result = runner.invoke(cli, ["validate", "--kb", str(mini_kb_root)])
    assert result.exit_code == 2
    assert result.stderr == "Error: knowledge/kb.yaml: adapter: unknown adapter 'fhir' (known: dxa)\n"


def test_the_headline_stage_is_the_first_shown_unless_one_is_marked(kb):
    assert kb.headline_kind == "pattern"
    stages = [{"kind": "a", "title": "A", "shown": False}, {"kind": "b", "title": "B", "shown": True},
              {"kind": "c", "title": "C", "shown": True}]
    other = KnowledgeBase(**{**kb.__dict__, "stages": stages})
    assert other.headline_kind == "b"
    stages[2]["headline"] = True
    assert other.headline_kind == "c"


def test_the_bmd_hint_is_the_adapters_wording(tmp_path, runner):
    case = tmp_path / "mg.yaml"
    case.write_text((knowledge_base.default_root() / "knowledge" / "cases" / "spine-up-hip-down.yaml")
                    .read_text().replace("bmd_g_cm2: 0.912", "bmd_g_cm2: 912", 1))
    result = runner.invoke(cli, ["validate", str(case)])
    assert result.exit_code == 2
    assert "it looks like mg/cm2: give BMD in g/cm2, e.g. 0.912" in result.stderr
