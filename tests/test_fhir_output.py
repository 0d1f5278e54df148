"""`--format fhir`: a Bundle with a GuidanceResponse, a RequestGroup (one action per conclusion,
citations as documentation, the caution when unapproved) and a Provenance (release, digest,
source article, rules fired, input resources), valid per the FHIR model library."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle

from bmdkb.cli.main import cli
from bmdkb.engine import api

from fhir_bundles import bundle_for

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def kb():
    return api.load_kb(REPO)


@pytest.fixture(scope="module")
def evaluation(kb):
    case = api.read_case(CASE)
    bundle, facility = bundle_for(case)
    return api.evaluate_bundle(api.Evaluator(kb), bundle, "b.json", facility)


def resources(bundle: dict) -> dict:
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


def test_the_output_is_a_valid_fhir_bundle_of_the_three_resources(kb, evaluation):
    out = api.fhir_output(evaluation, kb, now=NOW)
    Bundle.model_validate(out)   # the FHIR model library accepts it as it is
    assert [e["resource"]["resourceType"] for e in out["entry"]] == ["GuidanceResponse", "RequestGroup", "Provenance"]
    gr = resources(out)["GuidanceResponse"]
    assert gr["result"]["reference"] == out["entry"][1]["fullUrl"]
    assert gr["subject"] == resources(out)["RequestGroup"]["subject"]


def test_one_action_per_conclusion_with_its_citations_and_caution(kb, evaluation):
    out = api.fhir_output(evaluation, kb, now=NOW)
    actions = resources(out)["RequestGroup"]["action"]
    conclusions = evaluation.result["conclusions"]
    assert [a["title"] for a in actions] == [c["code"] for c in conclusions]
    for action, conclusion in zip(actions, conclusions):
        assert action["description"] == conclusion["statement"]
        quotes = [d["citation"] for d in action["documentation"]]
        assert len(quotes) == len(conclusion["citations"])
        assert all(c["quote"] in q for c, q in zip(conclusion["citations"], quotes))
        caution = [x["valueString"] for x in action.get("extension", [])]
        assert caution == ([conclusion["caution"]] if conclusion.get("caution") else [])
    assert any("not yet approved" in n["text"] for n in resources(out)["RequestGroup"]["note"])


def test_the_provenance_names_release_digest_source_rules_and_inputs(kb, evaluation):
    out = api.fhir_output(evaluation, kb, now=NOW)
    prov = resources(out)["Provenance"]
    text = json.dumps(prov)
    assert evaluation.result["knowledge_base"]["digest"] in text
    assert f"release {kb.meta['release']}" in text
    assert "Interpreting Discordant BMD Results" in text
    for conclusion in evaluation.result["conclusions"]:
        assert f"{conclusion['rule']['id']}@{conclusion['rule']['version']}" in text
    inputs = [e["what"]["reference"] for e in prov["entity"] if "reference" in e["what"]]
    source_urls = {e["fullUrl"] for e in evaluation.source["entry"]}
    assert inputs and set(inputs) <= source_urls
    assert prov["recorded"] == "2026-01-02T03:04:05+00:00"


def test_a_yaml_case_has_fhir_output_too_and_no_conclusion_is_said(tmp_path, kb):
    result = CliRunner().invoke(cli, ["evaluate", str(CASE), "--format", "fhir", "--kb", str(REPO)])
    assert result.exit_code == 0, result.output
    Bundle.model_validate(json.loads(result.stdout))
    one = tmp_path / "one.yaml"
    one.write_text("case_id: one\nscans:\n  - date: 2021-11-10\n    sites:\n      total_hip: {bmd_g_cm2: 0.7}\n",
                   encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(one), "--format", "fhir", "--kb", str(REPO)])
    out = json.loads(result.stdout)
    gr = resources(out)["GuidanceResponse"]
    assert gr["note"][0]["text"] == "no conclusion was drawn for this case"
    assert "action" not in resources(out)["RequestGroup"]
