"""FHIR R4 input: a Bundle maps onto the contract case through the knowledge base's binding, keeps
every fact's FHIR path, and gives the conclusions the YAML case gives for the same information."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bmdkb.cli.main import cli
from bmdkb.engine import api
from bmdkb.engine.fhir import units as fhir_units

from fhir_bundles import bundle_for, carried

REPO = Path(__file__).resolve().parents[1]
CASES = sorted((REPO / "knowledge" / "cases").glob("*.yaml"))
US_CORE = REPO / "tests" / "fixtures" / "us-core-dxa"   # copies of shared/external/us-core-dxa (CC0)
SHARED = next((p / "shared" / "external" / "us-core-dxa" for p in REPO.parents
               if (p / "shared" / "external" / "us-core-dxa").is_dir()), None)


@pytest.fixture(scope="module")
def kb():
    return api.load_kb(REPO)


@pytest.fixture(scope="module")
def evaluator(kb):
    return api.Evaluator(kb)


def us_core_bundle() -> dict:
    entries = []
    for f in sorted(US_CORE.glob("*.json")):
        resource = json.loads(f.read_text(encoding="utf-8"))
        entries.append({"fullUrl": f"http://example.org/fhir/{resource['resourceType']}/{resource['id']}",
                        "resource": resource})
    return {"resourceType": "Bundle", "id": "us-core-dxa", "type": "collection", "entry": entries}


@pytest.mark.skipif(SHARED is None, reason="shared/external is not beside this checkout")
def test_the_us_core_copies_equal_the_shared_originals():
    originals = sorted(p.name for p in SHARED.glob("*.json"))
    assert originals == sorted(p.name for p in US_CORE.glob("*.json")) and len(originals) == 7
    for name in originals:
        assert (US_CORE / name).read_bytes() == (SHARED / name).read_bytes()


def conclusions(evaluation):
    return [(c["code"], c.get("support"), c["statement"]) for c in evaluation.result["conclusions"]]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_example_case_gives_the_same_conclusions_through_fhir(path, evaluator):
    case = api.read_case(path)
    bundle, facility = bundle_for(case)
    through_fhir = api.evaluate_bundle(evaluator, bundle, str(path), facility)
    through_yaml = evaluator.evaluate(carried(case), str(path))
    assert conclusions(through_fhir) == conclusions(through_yaml)
    assert len(case["scans"]) >= 2 and through_fhir.case["scans"] == carried(case)["scans"]
    # every input fact names a FHIR element or the facility file, never a case path of the Bundle
    for fact in through_fhir.facts:
        for field, where in fact.paths.items():
            assert where.startswith(("Bundle.", "facility.")), (fact.type, field, where)


def test_generated_registry_cases_give_the_same_conclusions_through_fhir(evaluator):
    """150 seeded cases of the benchmark's registry mix (benchmarks/generate.py), bounded."""
    import random
    sys.path.insert(0, str(REPO / "benchmarks"))
    from generate import generate_case

    rng = random.Random(7)
    for i in range(150):
        case = generate_case(rng, f"g{i}")
        bundle, facility = bundle_for(case)
        through_fhir = api.evaluate_bundle(evaluator, bundle, f"g{i}.json", facility)
        assert conclusions(through_fhir) == conclusions(evaluator.evaluate(carried(case), f"g{i}")), i


def test_a_fact_path_names_the_exact_fhir_element(evaluator):
    case = api.read_case(REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml")
    bundle, facility = bundle_for(case)
    evaluation = api.evaluate_bundle(evaluator, bundle, "b.json", facility)
    hip = next(f for f in evaluation.facts if f.type == "measurement" and f.fields["site"] == "total_hip")
    path = hip.paths["bmd_g_cm2"]
    assert path.endswith(".resource.valueQuantity.value")
    index = int(path.split("[")[1].split("]")[0])
    resource = bundle["entry"][index]["resource"]
    assert resource["valueQuantity"]["value"] == hip.fields["bmd_g_cm2"]
    assert resource["code"]["coding"][0]["code"] in ("46278-8", "46279-6", "38261-4")


def test_explain_traces_a_conclusion_to_the_fhir_element(kb, evaluator):
    case = api.read_case(REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml")
    bundle, facility = bundle_for(case)
    evaluation = api.evaluate_bundle(evaluator, bundle, "b.json", facility)
    document = api.explainer.explain(kb, evaluation, "pattern.spine_up_hip_down")
    text = json.dumps(document)
    assert "Bundle.entry[" in text and ".resource.valueQuantity.value" in text
    assert "scans[" not in text.replace("scans[i]", "")   # inputs are named by their FHIR path


def test_the_us_core_study_loads_and_says_why_no_change_can_be_judged(evaluator):
    evaluation = api.evaluate_bundle(evaluator, us_core_bundle(), "us-core.json")
    notes = evaluation.result["input"]["notes"]
    assert any("one DXA study only (2021-11-10)" in n and "no change can be judged" in n for n in notes)
    assert evaluation.result["conclusions"] == []
    sites = evaluation.case["scans"][0]["sites"]
    assert sites == {"total_hip": {"bmd_g_cm2": 0.734, "t_score": -1.62, "side": "left"},
                     "femoral_neck": {"bmd_g_cm2": 0.631, "t_score": -1.48, "side": "left"}}
    unmapped = evaluation.result["input"]["unmapped"]
    assert any("80938-4" in u and "Z-score" in u for u in unmapped)
    assert any("80940-0" in u for u in unmapped)
    assert any("treatment is unknown" in n for n in notes)


def test_the_cli_evaluates_a_bundle_and_prints_why(tmp_path):
    path = tmp_path / "us-core.json"
    path.write_text(json.dumps(us_core_bundle()), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--kb", str(REPO)])
    assert result.exit_code == 0, result.output
    assert "One scan only (2021-11-10)" in result.stdout
    assert "not mapped: Bundle.entry[3].resource: 80940-0" in result.stdout


def test_fhir_to_case_prints_the_mapping(tmp_path):
    path = tmp_path / "us-core.json"
    path.write_text(json.dumps(us_core_bundle()), encoding="utf-8")
    result = CliRunner().invoke(cli, ["fhir", "to-case", str(path), "--format", "json", "--kb", str(REPO)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["case"]["scans"][0]["sites"]["total_hip"]["bmd_g_cm2"] == 0.734
    assert doc["paths"]["scans[0].sites.total_hip.bmd_g_cm2"] == "Bundle.entry[4].resource.valueQuantity.value"


def _spine_bundle():
    case = api.read_case(REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml")
    return case, *bundle_for(case)


def _bmd_entry(bundle, code_prefix=("24966-4",)):
    return next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Observation"
                and e["resource"]["code"]["coding"][0]["code"] in code_prefix)


@pytest.mark.parametrize("break_it, field, words", [
    (lambda r: r["valueQuantity"].__setitem__("code", "mg/mm2"), "valueQuantity.code", "is not one the knowledge base converts"),
    (lambda r: r["valueQuantity"].__setitem__("value", "abc"), "valueQuantity.value", "not valid FHIR R4"),
    (lambda r: r.__setitem__("colour", "blue"), "colour", "not valid FHIR R4"),
    (lambda r: r.pop("effectiveDateTime"), "effectiveDateTime", "no effective date"),
    (lambda r: r.__setitem__("resourceType", "Nope"), "resourceType", "'Nope' is not a FHIR R4 resource type"),
    (lambda r: r.__setitem__("resourceType", "Quantity"), "resourceType", "'Quantity' is not a FHIR R4 resource type"),
])
def test_bad_input_names_the_fhir_path_and_prints_nothing(tmp_path, break_it, field, words):
    _, bundle, facility = _spine_bundle()
    i = _bmd_entry(bundle)
    break_it(bundle["entry"][i]["resource"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--kb", str(REPO)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"Bundle.entry[{i}].resource.{field}" in result.stderr and words in result.stderr


def test_a_contained_resource_of_no_fhir_type_is_bad_input_not_a_defect(tmp_path):
    # the model library raises KeyError for it; that must stay exit 2 naming the resource
    _, bundle, facility = _spine_bundle()
    i = _bmd_entry(bundle)
    bundle["entry"][i]["resource"]["contained"] = [{"resourceType": "Nope", "id": "x"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--kb", str(REPO)])
    assert result.exit_code == 2 and result.stdout == ""
    assert f"Bundle.entry[{i}].resource: not valid FHIR R4: it holds a resource of a type" in result.stderr


def test_a_bundle_is_checked_entry_by_entry_with_the_same_findings_as_the_bundle_model():
    # models.problems checks a Bundle's shell and each resource apart (faster); what it finds must
    # be what the library's Bundle model finds, at the same paths
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError
    from bmdkb.engine.fhir import models

    _, bundle, _ = _spine_bundle()
    i = _bmd_entry(bundle)
    bundle["entry"][i]["resource"]["valueQuantity"]["value"] = "abc"
    bundle["entry"][0]["resource"]["colour"] = "blue"
    bundle["entry"][1]["fullUrl"] = 5
    bundle["entry"].append({"resource": {"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": {"resourceType": "Patient", "gender": 7}}]}})
    with pytest.raises(ValidationError) as exc:
        Bundle.model_validate(bundle)
    expected = {"Bundle." + ".".join(str(p) for p in e["loc"] if not models._internal(p)) for e in exc.value.errors()}
    found = {p.field.replace("[", ".").replace("]", "") for p in models.problems(bundle, "b.json", "Bundle")}
    assert found == expected and len(found) == 4


def test_two_results_for_one_site_and_date_that_disagree_are_bad_input(evaluator):
    _, bundle, facility = _spine_bundle()
    i = _bmd_entry(bundle)
    twin = copy.deepcopy(bundle["entry"][i])
    twin["resource"]["id"] = "twin"
    twin["fullUrl"] = "urn:uuid:twin"
    twin["resource"]["valueQuantity"]["value"] += 0.01
    bundle["entry"].append(twin)
    with pytest.raises(api.CaseError) as exc:
        api.evaluate_bundle(evaluator, bundle, "b.json", facility)
    assert exc.value.problems[0].field == f"Bundle.entry[{len(bundle['entry']) - 1}].resource.valueQuantity.value"
    assert "disagree" in exc.value.problems[0].message


def test_a_contract_error_is_reported_at_the_fhir_path(evaluator):
    _, bundle, facility = _spine_bundle()
    i = _bmd_entry(bundle)
    bundle["entry"][i]["resource"]["valueQuantity"] = {"value": 912, "unit": "g/cm2", "system": fhir_units.UCUM,
                                                       "code": "g/cm2"}
    with pytest.raises(api.CaseError) as exc:
        api.evaluate_bundle(evaluator, bundle, "b.json", facility)
    assert exc.value.problems[0].field == f"Bundle.entry[{i}].resource.valueQuantity.value"
    assert "mg/cm2" in exc.value.problems[0].message


def test_units_are_converted_with_the_cited_table(kb, evaluator):
    case, bundle, facility = _spine_bundle()
    i = _bmd_entry(bundle)
    bundle["entry"][i]["resource"]["valueQuantity"] = {"value": 912, "system": fhir_units.UCUM, "code": "mg/cm2"}
    vit = next(e["resource"] for e in bundle["entry"] if e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
               == "62292-8")
    vit["valueQuantity"] = {"value": 100, "system": fhir_units.UCUM, "code": "nmol/L"}
    mapped = api.case_from_bundle(bundle, "b.json", kb, facility)
    assert mapped.case["scans"][0]["sites"]["lumbar_spine"]["bmd_g_cm2"] == 0.912
    assert mapped.case["labs"]["vitamin_d_25oh_ng_ml"] == 40.06
    assert any("nmol/L" in n and "PubChem" in n for n in mapped.notes)
    table = kb.domain_data["fhir_units"]
    assert all(a["source"] for q in table.values() for a in q["accept"])   # every factor says where it comes from


def test_the_fhir_example_unit_g_cm_minus_2_is_read_as_g_cm2_with_a_note(kb):
    case, bundle, facility = _spine_bundle()
    i = _bmd_entry(bundle)
    bundle["entry"][i]["resource"]["valueQuantity"]["code"] = "g/cm-2"
    mapped = api.case_from_bundle(bundle, "b.json", kb, facility)
    assert mapped.case["scans"][0]["sites"]["lumbar_spine"]["bmd_g_cm2"] == case["scans"][0]["sites"]["lumbar_spine"]["bmd_g_cm2"]
    assert any("g/cm-2" in n for n in mapped.notes)


def test_no_medication_resource_is_unknown_not_treatment_naive(kb):
    case, bundle, facility = _spine_bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "MedicationStatement"]
    mapped = api.case_from_bundle(bundle, "b.json", kb, facility)
    assert "treatment" not in mapped.case
    assert any("not read as treatment-naive" in n for n in mapped.notes)


def test_a_refuted_finding_is_false_an_absent_one_unknown(kb):
    case, bundle, facility = _spine_bundle()
    kept = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Condition"]
    condition = {"resourceType": "Condition", "id": "vcf",
                 "verificationStatus": {"coding": [{"code": "refuted"}]},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "42942008"}]},
                 "subject": {"reference": "Patient/p"}}
    bundle["entry"] = kept + [{"fullUrl": "urn:uuid:vcf", "resource": condition}]
    mapped = api.case_from_bundle(bundle, "b.json", kb, facility)
    assert mapped.case["findings"] == {"vertebral_compression_fracture": False}
    assert mapped.paths["findings.vertebral_compression_fracture"].endswith(".verificationStatus")


def test_a_femur_result_with_another_femoral_region_is_not_the_femoral_neck(kb):
    bundle = us_core_bundle()
    femur = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "dxa-femur-l-armass-bmd")
    femur["bodySite"] = {"coding": [{"system": "http://snomed.info/sct", "code": "12345006"}]}
    mapped = api.case_from_bundle(bundle, "b.json", kb)
    assert "bmd_g_cm2" not in mapped.case["scans"][0]["sites"]["femoral_neck"]
    assert any("not read as the femoral neck" in u for u in mapped.unmapped)


def test_a_facility_file_keyed_by_scanner_id(tmp_path, kb, evaluator):
    case, bundle, facility = _spine_bundle()
    scanner_id = case["scans"][-1]["scanner"]["id"]
    path = tmp_path / "facility.yaml"
    path.write_text(f"scanners:\n  {scanner_id}:\n    lsc_g_cm2: {{lumbar_spine: 0.02, total_hip: 0.02}}\n", encoding="utf-8")
    mapped = api.case_from_bundle(bundle, "b.json", kb, api.read_facility(kb, str(path)))
    assert mapped.case["facility"] == {"lsc_g_cm2": {"lumbar_spine": 0.02, "total_hip": 0.02}}
    assert mapped.paths["facility.lsc_g_cm2.total_hip"] == f"facility.scanners.{scanner_id}.lsc_g_cm2.total_hip"
    path.write_text("lsc_g_cm2: {lumbar_spine: -1}\n", encoding="utf-8")
    with pytest.raises(api.CaseError) as exc:
        api.read_facility(kb, str(path))
    assert exc.value.problems[0].field == "lsc_g_cm2.lumbar_spine"


def test_the_binding_is_cited_data(kb):
    binding = api.fhir_binding(kb)
    assert {"24966-4", "38267-1", "38261-4", "46278-8", "46279-6", "38264-8", "80946-7", "80945-9", "24701-5",
            "80954-1", "80953-3", "38263-0", "80948-3", "80947-5", "29463-7"} <= set(binding.loinc_codes)
    for entry in kb.domain_data["fhir_binding"]["observations"]:
        assert entry.get("verified_by") or (entry.get("verified") is False and entry.get("note"))


def test_a_binding_code_without_a_source_is_refused():
    from bmdkb.engine.kb import schemas
    import yaml
    doc = yaml.safe_load((REPO / "knowledge" / "fhir" / "binding.yaml").read_text(encoding="utf-8"))
    doc["observations"][0].pop("verified_by")
    assert schemas.problems("fhir-binding", doc, "binding.yaml")


def test_a_contract_case_is_not_a_bundle():
    assert api.is_fhir_bundle({"resourceType": "Bundle"})
    assert not api.is_fhir_bundle({"case_id": "x", "scans": []})
    assert not api.is_fhir_bundle([1, 2])


def test_batch_reads_bundles_one_per_line_and_a_folder_of_them(tmp_path):
    lines, folder = [], tmp_path / "bundles"
    folder.mkdir()
    for path in CASES[:3]:
        bundle, _ = bundle_for(api.read_case(path))
        lines.append(json.dumps(bundle))
        (folder / f"{path.stem}.json").write_text(json.dumps(bundle), encoding="utf-8")
    lines.append(json.dumps(us_core_bundle()))
    jsonl = tmp_path / "bundles.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    facility = tmp_path / "facility.yaml"
    facility.write_text("lsc_g_cm2: {lumbar_spine: 0.03, total_hip: 0.025, femoral_neck: 0.035}\n", encoding="utf-8")
    for source in (jsonl, folder):
        out = tmp_path / f"{source.name}.out.jsonl"
        result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(out), "--workers", "1",
                                          "--facility", str(facility), "--kb", str(REPO)])
        assert result.exit_code == 0, result.output
        docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert len(docs) == (4 if source == jsonl else 3)
        assert all(d["input"]["format"] == "fhir-r4" for d in docs)
        assert all(f["paths"][k].startswith(("Bundle.", "facility.")) for d in docs for f in d["facts"]
                   for k in f.get("paths", {}))


def test_explain_and_validate_take_a_bundle(tmp_path):
    case = api.read_case(REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml")
    bundle, facility = bundle_for(case)
    path, fac = tmp_path / "b.json", tmp_path / "facility.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    fac.write_text(json.dumps(facility), encoding="utf-8")
    result = CliRunner().invoke(cli, ["explain", str(path), "pattern.spine_up_hip_down", "--facility", str(fac),
                                      "--kb", str(REPO)])
    assert result.exit_code == 0, result.output
    assert "entry[2].resource.valueQuantity.value = 0.912" in result.stdout
    result = CliRunner().invoke(cli, ["validate", str(path), "--kb", str(REPO)])
    assert result.exit_code == 0, result.output
    assert "valid FHIR Bundle (2 scans read" in result.stdout
    bundle["entry"][2]["resource"]["valueQuantity"]["value"] = 912
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path), "--kb", str(REPO)])
    assert result.exit_code == 2
    assert "Bundle.entry[2].resource.valueQuantity.value" in result.stderr + result.stdout


def _entries(bundle, resource_type):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def test_a_weight_in_pounds_and_a_prescription_are_read_and_said(kb):
    case, bundle, facility = _spine_bundle()
    weight = next(o for o in _entries(bundle, "Observation") if o["code"]["coding"][0]["code"] == "29463-7")
    weight["valueQuantity"] = {"value": 132, "system": fhir_units.UCUM, "code": "[lb_av]"}
    statement = _entries(bundle, "MedicationStatement")[0]
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"] is not statement]
    request = {"resourceType": "MedicationRequest", "id": "rx", "status": "active", "intent": "order",
               "medicationCodeableConcept": {"text": "Alendronic acid 70 mg tablet"},
               "subject": {"reference": "Patient/p"}, "authoredOn": "2021-05-01"}
    bundle["entry"].append({"fullUrl": "urn:uuid:rx", "resource": request})
    mapped = api.case_from_bundle(bundle, "b.json", kb, facility)
    assert mapped.case["scans"][0]["weight_kg"] == 59.87419284   # 132 x 0.45359237, exactly
    assert mapped.case["treatment"] == {"status": "current", "agent": "alendronate", "started": "2021-05-01"}
    assert any("read from the medication's text" in n for n in mapped.notes)
    assert any("prescription date (authoredOn)" in n for n in mapped.notes)


def test_a_lab_in_a_unit_the_table_does_not_list_is_refused(kb):
    _, bundle, facility = _spine_bundle()
    pth = next(o for o in _entries(bundle, "Observation") if o["code"]["coding"][0]["code"] == "2731-8")
    pth["valueQuantity"] = {"value": 4.5, "system": fhir_units.UCUM, "code": "pmol/L"}
    with pytest.raises(api.CaseError) as exc:
        api.case_from_bundle(bundle, "b.json", kb, facility)
    assert exc.value.problems[0].field.endswith(".valueQuantity.code")
    assert "'pmol/L'" in exc.value.problems[0].message and "pg/mL" in exc.value.problems[0].message


def test_repeated_agreeing_results_are_read_once_and_an_unknown_code_is_listed(kb):
    _, bundle, facility = _spine_bundle()
    i = _bmd_entry(bundle)
    twin = copy.deepcopy(bundle["entry"][i])
    twin["resource"]["id"], twin["fullUrl"] = "twin", "urn:uuid:twin"
    other = copy.deepcopy(bundle["entry"][i])
    other["resource"]["id"], other["fullUrl"] = "other", "urn:uuid:other"
    other["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}
    bundle["entry"] += [twin, other]
    mapped = api.case_from_bundle(bundle, "b.json", kb, facility)
    assert any("read once" in n for n in mapped.notes)
    assert any("http://loinc.org|2345-7" in u and "not in the binding" in u for u in mapped.unmapped)


def test_a_preliminary_result_is_not_read_and_a_bundle_without_dxa_is_refused(kb):
    bundle = us_core_bundle()
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "Observation":
            e["resource"]["status"] = "preliminary"
    with pytest.raises(api.CaseError) as exc:
        api.case_from_bundle(bundle, "b.json", kb)
    assert "no DXA Observation the binding reads" in str(exc.value)


def test_a_side_that_contradicts_the_code_is_bad_input(kb):
    bundle = us_core_bundle()
    hip = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "dxa-hip-l-armass-bmd")
    hip["bodySite"] = {"coding": [{"system": "http://snomed.info/sct", "code": "24028007"}]}
    with pytest.raises(api.CaseError) as exc:
        api.case_from_bundle(bundle, "b.json", kb)
    assert exc.value.problems[0].field.endswith(".bodySite.coding[0].code")


def test_the_femur_code_with_a_neck_of_femur_body_site_and_a_device(kb):
    bundle = us_core_bundle()
    device = {"resourceType": "Device", "id": "dxa1", "manufacturer": "GE", "serialNumber": "LUNAR-7",
              "deviceName": [{"name": "Lunar iDXA", "type": "model-name"}]}
    bundle["entry"].append({"fullUrl": "http://example.org/fhir/Device/dxa1", "resource": device})
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "Observation":
            e["resource"]["device"] = {"reference": "Device/dxa1"}
    femur = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "dxa-femur-l-armass-bmd")
    femur["bodySite"] = {"coding": [{"system": "http://snomed.info/sct", "code": "29627003"}]}
    mapped = api.case_from_bundle(bundle, "b.json", kb)
    scan = mapped.case["scans"][0]
    assert scan["scanner"] == {"manufacturer": "GE", "model": "Lunar iDXA", "id": "LUNAR-7"}
    assert scan["sites"]["femoral_neck"]["bmd_g_cm2"] == 0.631
    assert not any("unverified" in n and "29627003" in n for n in mapped.notes)   # verified (binding.yaml)


def test_a_code_the_binding_marks_unverified_is_named_in_the_notes(kb):
    bundle = us_core_bundle()
    bundle["entry"].append({"resource": {
        "resourceType": "MedicationStatement", "id": "m1", "status": "active",
        "subject": {"reference": "Patient/example"},   # the US Core examples' patient
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "73056"}]}}})   # risedronate: not yet verified
    mapped = api.case_from_bundle(bundle, "b.json", kb)
    assert mapped.case["treatment"]["agent"] == "risedronate"
    assert any("unverified" in n and "73056" in n for n in mapped.notes), mapped.notes


def test_fhir_to_case_on_bad_input_prints_nothing_and_exits_2(tmp_path):
    _, bundle, _ = _spine_bundle()
    i = _bmd_entry(bundle)
    bundle["entry"][i]["resource"]["valueQuantity"]["code"] = "kg"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(cli, ["fhir", "to-case", str(path), "--kb", str(REPO)])
    assert result.exit_code == 2 and result.stdout == ""
    assert f"Bundle.entry[{i}].resource.valueQuantity.code" in result.stderr
    case = tmp_path / "case.yaml"
    case.write_text("case_id: x\nscans: []\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["fhir", "to-case", str(case), "--kb", str(REPO)])
    assert result.exit_code == 2 and "not a FHIR Bundle" in result.stderr


@pytest.mark.parametrize("command", [["evaluate"], ["fhir", "to-case"], ["validate"]])
def test_a_bare_resource_is_refused_as_not_a_bundle_not_read_as_a_case(command):
    """The US Core DiagnosticReport on its own is FHIR but not a Bundle: exit 2 naming resourceType and
    saying what to do, not a list of missing case fields; nothing on stdout."""
    report = US_CORE / "uscore-DiagnosticReport-bone-density-report.json"
    done = CliRunner().invoke(cli, [*command, "--kb", str(REPO), str(report)])
    assert done.exit_code == 2, done.output
    if command != ["validate"]:   # validate reports the knowledge base's check on stdout first, by design
        assert done.stdout == ""
    assert "resourceType: is 'DiagnosticReport', not 'Bundle'" in done.output
    assert "case_id" not in done.output


def _first_check_in_a_fresh_interpreter(preload: bool) -> tuple[int, list]:
    """(models preloaded, FHIR modules the first check of the US Core resources then imported), in
    a new Python process: the library's own lazy imports are what is measured."""
    script = f"""
import json, sys
from pathlib import Path
from bmdkb.engine.fhir import models
resources = [json.loads(f.read_text()) for f in sorted(Path({str(US_CORE)!r}).glob("*.json"))]
types = sorted({{r["resourceType"] for r in resources}})
if {preload!r}:
    loaded = models.preload(types)
else:   # the resource models themselves, as before any check
    loaded = 0
    for t in types:
        models._resource_model(t)
before = set(sys.modules)
for r in resources:
    assert models.problems(r, r["id"]) == [], r["id"]
print(json.dumps([loaded, sorted(m for m in set(sys.modules) - before if m.startswith("fhir"))]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded, imported = json.loads(done.stdout)
    return loaded, imported


def test_preloaded_models_leave_nothing_to_import_at_the_first_check():
    # the service's warm-up: without it the first call imported the element types' modules (10-15 ms)
    loaded, imported = _first_check_in_a_fresh_interpreter(preload=True)
    assert loaded > 40 and imported == []


def test_without_preloading_the_first_check_imports_element_models():
    # the control for the test above: the library loads element types lazily, so preloading matters
    _, imported = _first_check_in_a_fresh_interpreter(preload=False)
    assert len(imported) > 3
