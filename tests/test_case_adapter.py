"""The case adapter: bad input named by file and field, exact arithmetic, comparability."""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from bmdkb.engine.kb import schemas
from bmdkb.engine.adapters.dxa.adapter import (_schema_valid, _semantic_problems, case_to_facts, parse_case, read_case,
                                       validate_case)
from bmdkb.engine.common.errors import CaseError

from conftest import DEMO_CASE

TODAY = dt.date(2026, 11, 26)
CLASSES = {"alendronate": "bisphosphonate", "teriparatide": "anabolic"}


@pytest.fixture
def demo():
    return read_case(DEMO_CASE)


def problems(case) -> list[str]:
    with pytest.raises(CaseError) as info:
        validate_case(case, "case.yaml", TODAY)
    return [str(p) for p in info.value.problems]


def facts_of(case, type_):
    return [f for f in case_to_facts(case, CLASSES) if f.type == type_]


def test_demo_case_is_valid(demo):
    # Both the fast check that vouches for a case and the full schema validator with the semantic
    # rules must accept it: a fast path that rejected nothing would pass a bare validate_case too.
    assert _schema_valid(demo) is True
    assert schemas.problems("case", demo, "case.yaml") == []
    assert _semantic_problems(demo, "case.yaml", TODAY) == []
    assert validate_case(demo, "case.yaml", TODAY) is None
    assert len(facts_of(demo, "scan")) == len(demo["scans"]) == 2


def test_bmd_in_mg_per_cm2_is_named_with_a_hint(demo):
    demo["scans"][1]["sites"]["total_hip"]["bmd_g_cm2"] = 749
    assert problems(demo) == [
        "case.yaml: scans[1].sites.total_hip.bmd_g_cm2: 749 is outside the plausible range for BMD in g/cm2 "
        "(above 0, at most 2.5) (it looks like mg/cm2: give BMD in g/cm2, e.g. 0.912)"]


def test_t_score_out_of_range(demo):
    demo["scans"][0]["sites"]["femoral_neck"]["t_score"] = -11
    assert problems(demo) == ["case.yaml: scans[0].sites.femoral_neck.t_score: -11 is less than the minimum of -10"]


def test_two_scans_on_one_date(demo):
    demo["scans"][1]["date"] = demo["scans"][0]["date"]
    assert problems(demo) == [
        "case.yaml: scans[1].date: 2023-03-14 is also the date of scans[0]; two scans cannot share a date"]


def test_scan_in_the_future(demo):
    demo["scans"][1]["date"] = "2027-01-05"
    assert problems(demo) == ["case.yaml: scans[1].date: 2027-01-05 is in the future (today is 2026-11-26)"]


def test_unknown_site_and_agent(demo):
    demo["scans"][0]["sites"]["radius_33"] = {"bmd_g_cm2": 0.6}
    demo["treatment"]["agent"] = "vitamin_k"
    assert problems(demo) == [
        "case.yaml: scans[0].sites.radius_33: unknown field (allowed: femoral_neck, lumbar_spine, total_hip)",
        "case.yaml: treatment.agent: 'vitamin_k' is not one of alendronate, risedronate, ibandronate, "
        "zoledronic_acid, denosumab, teriparatide, abaloparatide, romosozumab, raloxifene, hormone_therapy, other",
    ]


def test_negative_lsc(demo):
    demo["facility"]["lsc_g_cm2"]["total_hip"] = -0.025
    assert problems(demo) == ["case.yaml: facility.lsc_g_cm2.total_hip: -0.025 is less than or equal to the minimum of 0"]


def test_missing_case_id_and_bad_date(demo):
    del demo["case_id"]
    demo["scans"][0]["date"] = "14/03/2023"
    assert problems(demo) == ["case.yaml: case_id: is required",
                              "case.yaml: scans[0].date: '14/03/2023' is not a 'date'"]


def test_not_yaml_or_json():
    with pytest.raises(CaseError) as info:
        parse_case("case_id: [unclosed\n", "case.yaml")
    assert str(info.value).startswith("case.yaml: not valid YAML or JSON:")
    with pytest.raises(CaseError) as info:
        parse_case('{"case_id": ', "case.json", as_json=True)
    assert str(info.value) == "case.json: not valid JSON: Expecting value (line 1, column 13)"


def test_yaml_tags_that_construct_objects_are_refused():
    with pytest.raises(CaseError) as info:
        parse_case("case_id: !!python/object/apply:os.system ['echo pwned']\n", "evil.yaml")
    assert "evil.yaml: not plain YAML data: could not determine a constructor for the tag" in str(info.value)


def test_duplicate_keys_are_refused():
    with pytest.raises(CaseError) as info:
        parse_case("case_id: a\ncase_id: b\n", "dup.yaml")
    assert str(info.value) == "dup.yaml: not plain YAML data: duplicate key 'case_id' (line 2, column 1)"


def test_t_scores_only_is_not_an_input_error(demo):
    for scan in demo["scans"]:
        for site in scan["sites"].values():
            del site["bmd_g_cm2"]
    validate_case(demo, "case.yaml", TODAY)
    changes = facts_of(demo, "site_change")
    assert {c.fields["site"]: (c.fields["bmd_available"], c.fields["t_scores_available"]) for c in changes} == {
        "lumbar_spine": (False, True), "total_hip": (False, True), "femoral_neck": (False, True)}
    assert all("delta_g_cm2" not in c.fields for c in changes)


def test_change_is_exact_and_equal_to_lsc(demo):
    demo["scans"][0]["sites"]["total_hip"]["bmd_g_cm2"] = 0.760
    demo["scans"][1]["sites"]["total_hip"]["bmd_g_cm2"] = 0.738
    demo["facility"]["lsc_g_cm2"]["total_hip"] = 0.022
    hip = next(c for c in facts_of(demo, "site_change") if c.fields["site"] == "total_hip")
    assert hip.fields["delta_g_cm2"] == -0.022        # not -0.02200000000000002
    assert hip.fields["change_in_lsc"] == -1.0         # exactly one LSC
    assert 0.738 - 0.760 != -0.022                     # what float arithmetic would have given


def test_scans_are_sorted_by_date_and_paths_follow_the_file(demo):
    demo["scans"].reverse()  # latest first in the file
    scans = facts_of(demo, "scan")
    assert [s.fields["date"] for s in scans] == ["2023-03-14", "2025-03-20"]
    assert scans[0].paths["date"] == "scans[1].date"
    hip = next(c for c in facts_of(demo, "site_change") if c.fields["site"] == "total_hip")
    assert hip.fields["delta_g_cm2"] == -0.032 and hip.fields["recency"] == 0
    measurement = next(f for f in case_to_facts(demo, CLASSES) if f.id in hip.derived_from and f.type == "measurement"
                       and f.fields["scan"] == 1)
    assert measurement.paths["bmd_g_cm2"] == "scans[0].sites.total_hip.bmd_g_cm2"


def test_different_manufacturer_makes_no_site_comparable(demo):
    demo["scans"][1]["scanner"] = {"manufacturer": "GE Lunar", "model": "iDXA", "id": "DXA-9"}
    changes = facts_of(demo, "site_change")
    assert {c.fields["comparable"] for c in changes} == {False}
    interval = facts_of(demo, "interval")[0]
    assert interval.fields["technique_consistent"] is False
    assert interval.fields["technique_differences"] == ["scanner manufacturer Hologic then GE Lunar"]


def test_same_manufacturer_other_scanner_stays_comparable(demo):
    demo["scans"][1]["scanner"]["id"] = "DXA-2"
    assert {c.fields["comparable"] for c in facts_of(demo, "site_change")} == {True}
    assert facts_of(demo, "interval")[0].fields["technique_consistent"] is False


def test_spine_region_and_hip_side(demo):
    demo["scans"][1]["sites"]["lumbar_spine"]["region"] = "L2-L4"
    demo["scans"][1]["sites"]["total_hip"]["side"] = "right"
    comparable = {c.fields["site"]: c.fields["comparable"] for c in facts_of(demo, "site_change")}
    assert comparable == {"lumbar_spine": False, "total_hip": False, "femoral_neck": True}


def test_unrecorded_technique_is_unverified_not_different(demo):
    for scan in demo["scans"]:
        del scan["scanner"]
    interval = facts_of(demo, "interval")[0]
    assert "technique_consistent" not in interval.fields   # unknown, not false
    assert interval.fields["technique_verified"] is False
    assert "same_manufacturer" not in interval.fields


def test_weight_change_and_treatment(demo):
    interval = facts_of(demo, "interval")[0]
    assert round(interval.fields["weight_change_pct"], 4) == -1.3115
    treatment = facts_of(demo, "treatment")[0]
    assert treatment.fields["agent_class"] == "bisphosphonate"
    assert treatment.fields["months_on_treatment"] == 46.6
    assert treatment.paths["agent_class"] == "treatment.agent"


def test_missing_blocks_are_unknown_not_false(demo):
    for key in ("findings", "labs", "risk", "treatment"):
        del demo[key]
    facts = case_to_facts(demo, CLASSES)
    assert not [f for f in facts if f.type in ("finding", "lab")]
    risk = next(f for f in facts if f.type == "risk")
    assert risk.fields == {}  # asserted, but nothing recorded
    treatment = next(f for f in facts if f.type == "treatment")
    assert treatment.fields == {}


def test_three_scans_give_two_intervals_with_recency(demo):
    third = copy.deepcopy(demo["scans"][0])
    third["date"] = "2021-03-10"
    demo["scans"].append(third)
    intervals = facts_of(demo, "interval")
    assert [(i.fields["from_date"], i.fields["recency"]) for i in intervals] == [("2021-03-10", 1), ("2023-03-14", 0)]
