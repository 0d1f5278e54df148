"""The floor: the shipped knowledge base's decisions hand-written in plain Python.

No rule engine, no fact records, no result document: from a (valid) case
straight to which rules fire and which conclusions (code, support) follow. It
reads the knowledge base only for parameter values, treatment classes and each
rule's conclusion code and support, so a changed threshold or wording changes
both sides alike; when and how often each rule fires is written out here. tests/test_floor_agreement.py checks
that it fires the same rules, the same number of times, and draws the same
conclusions as the engine on thousands of generated cases; when the rules change,
that test fails until this file follows.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from decimal import Decimal

SITES = ("lumbar_spine", "total_hip", "femoral_neck")
HIPS = ("total_hip", "femoral_neck")
SPINE_ARTIFACT = ("degenerative_spine_changes", "aortic_calcification", "vertebral_compression_fracture")
RANK = {"considered": 0, "supported": 1}
DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
ORAL_ETC = ("alendronate", "risedronate", "ibandronate", "raloxifene", "hormone_therapy")


def _norm(value):
    if not isinstance(value, str):
        return value
    text = re.sub(r"\s+", " ", DASHES.sub("-", unicodedata.normalize("NFKC", value))).strip()
    return re.sub(r"\s*-\s*", "-", text).casefold()


def _exact(number) -> Decimal:
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _same(a: dict, b: dict, key: str):
    if a.get(key) is not None and b.get(key) is not None:
        return _norm(a[key]) == _norm(b[key])
    return None


class Floor:
    def __init__(self, kb):
        p = {k: v["value"] for k, v in kb.parameters.items()}
        self.lsc = _exact(p["significance_threshold_lsc"])
        self.weight_pct = _exact(p["notable_weight_change_pct"])
        self.vitamin_d = p["vitamin_d_deficiency_ng_ml"]
        self.pth = p["pth_upper_limit_pg_ml"]
        self.calcium = p["calcium_upper_limit_mg_dl"]
        self.falls = p["recent_falls_min_count"]
        self.min_months = p["min_months_on_treatment_for_response"]
        self.classes = kb.domain_data["treatment_classes"]
        self.concludes = {r.id: (r.concludes, r.support) for r in kb.rules.values()}

    def decide(self, case: dict) -> tuple[dict, Counter]:
        """(code -> strongest support, Counter of fired rule ids) for one valid case."""
        fired: Counter = Counter()
        concluded: dict = {}

        def conclude(rule_id: str, times: int = 1):
            if times <= 0:
                return
            fired[rule_id] += times
            code, support = self.concludes[rule_id]
            if code not in concluded or RANK[support] > RANK[concluded[code]]:
                concluded[code] = support

        scans = sorted(case["scans"], key=lambda s: s["date"])
        lsc = case.get("facility", {}).get("lsc_g_cm2", {})
        # Trends per interval recency: site -> direction; latest interval's site-change checks.
        trends = {0: {}, 1: {}}
        latest = None
        from_dates = {}
        last = len(scans) - 1
        for k in range(last):
            a, b = scans[k], scans[k + 1]
            recency = last - 1 - k
            from_dates[recency] = a["date"]
            sa, sb = a.get("scanner", {}), b.get("scanner", {})
            compared = [s for s in SITES if s in a.get("sites", {}) and s in b.get("sites", {})]
            same_maker = _same(sa, sb, "manufacturer")
            checks = [same_maker, _same(sa, sb, "id")]
            model_differs = _same(sa, sb, "model") is False
            if "lumbar_spine" in compared:
                checks.append(_same(a["sites"]["lumbar_spine"], b["sites"]["lumbar_spine"], "region"))
            hips = [_same(a["sites"][s], b["sites"][s], "side") for s in HIPS if s in compared]
            if hips:
                checks.append(False if False in hips else (None if None in hips else True))
            site_rows = []
            for site in compared:
                m0, m1 = a["sites"][site], b["sites"][site]
                if same_maker is False:
                    comparable = False
                elif site == "lumbar_spine":
                    comparable = _same(m0, m1, "region") is not False
                else:
                    comparable = _same(m0, m1, "side") is not False
                bmd = "bmd_g_cm2" in m0 and "bmd_g_cm2" in m1
                t_only = any("t_score" in m and "bmd_g_cm2" not in m for m in (m0, m1))
                row = {"site": site, "bmd": bmd, "t": t_only, "lsc": site in lsc, "direction": None}
                if bmd and site in lsc and comparable:
                    delta = _exact(m1["bmd_g_cm2"]) - _exact(m0["bmd_g_cm2"])
                    limit = _exact(lsc[site]) * self.lsc
                    if delta >= limit:
                        row["direction"], rule = "increase", "measurement.significant_increase"
                    elif delta <= -limit:
                        row["direction"], rule = "decrease", "measurement.significant_decrease"
                    else:
                        row["direction"], rule = "stable", "measurement.within_lsc"
                    fired[rule] += 1
                    if recency in trends:
                        trends[recency][site] = row["direction"]
                site_rows.append(row)
            if recency == 0:
                weight = None
                if a.get("weight_kg") is not None and b.get("weight_kg") is not None:
                    w0, w1 = _exact(a["weight_kg"]), _exact(b["weight_kg"])
                    weight = abs(w1 - w0) * 100 >= self.weight_pct * w0
                latest = {"checks": checks, "sites": site_rows, "notable_weight": weight,
                          "model_differs": model_differs}

        # Evidence: recorded findings, labs, weight change, falls.
        evidence = {"hypothesis.spine_artifact": 0, "hypothesis.hip_measurement_variation": 0,
                    "check.secondary_causes": 0, "check.fall_risk": 0}
        findings = case.get("findings", {})
        for name in SPINE_ARTIFACT:
            if findings.get(name) is True:
                fired[f"evidence.{name}"] += 1
                evidence["hypothesis.spine_artifact"] += 1
        if findings.get("hip_positioning_issue") is True:
            fired["evidence.hip_positioning_issue"] += 1
            evidence["hypothesis.hip_measurement_variation"] += 1
        if findings.get("localized_hip_disease") is True:
            fired["evidence.localized_hip_disease"] += 1
            evidence["check.secondary_causes"] += 1
        labs = case.get("labs", {})
        for rule, name, test in (("evidence.low_vitamin_d", "vitamin_d_25oh_ng_ml", lambda v: v < self.vitamin_d),
                                 ("evidence.high_pth", "pth_pg_ml", lambda v: v > self.pth),
                                 ("evidence.high_calcium", "calcium_mg_dl", lambda v: v > self.calcium)):
            if name in labs and test(labs[name]):
                fired[rule] += 1
                evidence["check.secondary_causes"] += 1
        if latest and latest["notable_weight"]:
            fired["evidence.notable_weight_change"] += 1
            evidence["hypothesis.hip_measurement_variation"] += 1
        risk = case.get("risk", {})
        if risk.get("falls_past_year", 0) >= self.falls:
            fired["evidence.recent_falls"] += 1
            evidence["check.fall_risk"] += 1

        # Measurement-level conclusions on the latest interval.
        now, before = trends[0], trends[1]
        hip_down = sum(1 for s in HIPS if now.get(s) == "decrease")
        hip_down_before = sum(1 for s in HIPS if before.get(s) == "decrease")
        treatment = case.get("treatment", {})
        current = treatment.get("status") == "current"
        agent = treatment.get("agent")
        anabolic = self.classes.get(agent) == "anabolic"
        bisphosphonate = current and self.classes.get(agent) == "bisphosphonate"
        started, months, days = treatment.get("started"), None, None
        if started:
            days = (dt.date.fromisoformat(scans[-1]["date"]) - dt.date.fromisoformat(started)).days
            months = float(round(Decimal(days) / Decimal("30.4375"), 1))
        exposed = months is not None and months >= self.min_months
        adherence = treatment.get("adherence")
        adherent = adherence in ("good", "unknown", None)
        if current and adherence in ("poor", "partial"):
            fired[f"evidence.{adherence}_adherence"] += 1
        if latest:
            conclude("pitfall.change_within_lsc", times=sum(1 for d in now.values() if d == "stable"))
            conclude("pitfall.compare_bmd_not_t_scores", times=sum(1 for r in latest["sites"] if not r["bmd"] and r["t"]))
            conclude("pitfall.lsc_missing", times=sum(1 for r in latest["sites"] if r["bmd"] and not r["lsc"]))
            checks = latest["checks"]
            if False in checks or latest["model_differs"]:
                conclude("pitfall.inconsistent_technique")
            if None in checks:
                conclude("pitfall.technique_unverified")
        if current and exposed and adherent:
            conclude("assessment.inadequate_treatment_response", times=hip_down)
        if current and days is not None and days >= 0 and months < self.min_months:
            conclude("assessment.response_too_early_to_judge.short_exposure", times=hip_down)
        if current and days is not None and days < 0:
            conclude("assessment.response_too_early_to_judge.started_after_scan", times=hip_down)
        if current and not started:
            conclude("assessment.response_exposure_not_recorded", times=hip_down)
        if current and adherence in ("poor", "partial"):
            conclude("assessment.response_pending_adherence", times=hip_down)
        if bisphosphonate and exposed and adherent:
            conclude("treatment.consider_anabolic_switch.conditional", times=hip_down)
            if 1 in from_dates and started <= from_dates[1]:
                conclude("treatment.consider_anabolic_switch.firm", times=hip_down * hip_down_before)

        # The pattern, and everything that rests on it.
        pattern_firings = (1 if now.get("lumbar_spine") == "increase" else 0) * hip_down
        if not pattern_firings:
            return concluded, fired
        conclude("pattern.spine_up_hip_down", times=pattern_firings)
        for rule_id in ("assessment.hip_decline_concerning", "caution.bmd_one_component",
                        "check.verify_measurement_accuracy", "follow_up.monitor_turnover_markers",
                        "follow_up.repeat_dxa_1_2_years", "follow_up.vertebral_fracture_assessment",
                        "hypothesis.site_specific_bone_loss", "pitfall.missing_secondary_causes"):
            conclude(rule_id)
        for code in ("check.fall_risk", "check.secondary_causes", "hypothesis.hip_measurement_variation",
                     "hypothesis.spine_artifact"):
            conclude(f"{code}.considered")
            conclude(f"{code}.supported", times=evidence[code])
        if current:
            for rule_id in ("check.bone_turnover_markers", "check.medication_effects", "check.treatment_adherence"):
                conclude(rule_id)
            if adherence in ("poor", "partial"):
                conclude("check.treatment_adherence.supported")
            if exposed:
                conclude("hypothesis.differential_treatment_response.considered")
                if agent == "teriparatide":
                    conclude("hypothesis.differential_treatment_response.supported")
                if agent in ("alendronate", "teriparatide"):
                    conclude(f"assessment.expected_response_reference.{agent}")
        status = treatment.get("status")
        if status == "naive":
            conclude("treatment.initiate_consistent_agent")
        fracture_risk = risk.get("fracture_risk")
        if fracture_risk in ("high", "very_high"):
            if status in ("naive", "past") or (current and agent in ORAL_ETC):
                conclude("treatment.consider_potent_agent")
            if status is None or (current and agent in (None, "other")):
                conclude("treatment.consider_potent_agent.agent_not_recorded")
            if current and (agent in ("denosumab", "zoledronic_acid") or anabolic):
                conclude("treatment.already_on_potent_agent")
        if fracture_risk in (None, "unknown"):
            conclude("pitfall.clinical_context_missing")
        return concluded, fired


def engine_decisions(evaluation) -> tuple[dict, Counter]:
    """The same two things read from an engine Evaluation, for the agreement test."""
    concluded = {c["code"]: c["support"] for c in evaluation.result["conclusions"]}
    return concluded, Counter(f.rule for f in evaluation.firings)
