"""The one piece of domain code: a DXA case becomes validated input facts and
derived facts (intervals, exact per-site changes, comparability, weight change,
treatment class and duration). Significance is left to the rules."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import unicodedata
from decimal import Decimal
from functools import lru_cache

from bmdkb.engine.common import fastcheck
from bmdkb.engine.resources import SCHEMA_DIR
from bmdkb.engine.common.errors import CaseError, Problem
from bmdkb.engine.run.facts import Fact
from bmdkb.engine.run.cases import parse_case, read_case  # noqa: F401  (kept here for callers of the adapter)

SITES = ("lumbar_spine", "total_hip", "femoral_neck")
REGION = {"lumbar_spine": "spine", "total_hip": "hip", "femoral_neck": "hip"}
DAYS_PER_MONTH = Decimal("30.4375")
# Free-text fields compared between scans. They are compared, and carried on the fact, in a
# normalised form (see normalise); the recorded text stays in the input at the fact's path,
# and `explain` shows both ("HOLOGIC (read as manufacturer hologic)").
SCANNER_TEXT = ("manufacturer", "model", "scanner_id")
SITE_TEXT = ("region", "side")
# Hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar, minus sign,
# small and full-width hyphen-minus: all read as "-".
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
_SPACES = re.compile(r"\s+")
_AROUND_DASH = re.compile(r"\s*-\s*")


def normalise(value):
    """The form in which recorded scanner and site text is compared: Unicode NFKC, every dash
    variant as "-", runs of white space as one space, no space around a dash, no leading or
    trailing space, case folded. "HOLOGIC " and "Hologic" agree; "L1 – L4" and "L1-L4" agree;
    "L2-L4" and "L1-L4" still differ. Values that are not text are returned unchanged."""
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value)
    text = _DASHES.sub("-", text)
    text = _SPACES.sub(" ", text).strip()
    return _AROUND_DASH.sub("-", text).casefold()


def _exact(number) -> Decimal:
    # repr() gives the shortest text that round-trips, i.e. what the file said.
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _as_number(value: Decimal):
    """Exact values leave the adapter as the nearest float (what JSON can carry)."""
    return float(value)


def _ratio(numerator: Decimal, denominator: Decimal, scale: int = 1) -> float:
    """The nearest float to numerator / denominator * scale, computed exactly: Python's
    integer true division rounds correctly, as float(Fraction(...)) does, only faster."""
    n1, d1 = numerator.as_integer_ratio()
    n0, d0 = denominator.as_integer_ratio()
    return (n1 * d0 * scale) / (d1 * n0)


@lru_cache(maxsize=4096)
def _months(days: int) -> float:
    return float(round(Decimal(days) / DAYS_PER_MONTH, 1))


# The same file schemas.validator("case") validates with; read directly so that a valid
# case never needs jsonschema imported (a tenth of a second of a cold `evaluate`).
CASE_SCHEMA = SCHEMA_DIR / "case.schema.json"
_certainly_valid = None


def _schema_valid(case) -> bool:
    """The fast check: True only when the full validator would find nothing (engine/fastcheck.py)."""
    global _certainly_valid
    if _certainly_valid is None:
        schema = json.loads(CASE_SCHEMA.read_text(encoding="utf-8"))
        _certainly_valid = fastcheck.compile_schema(schema) or (lambda case: False)
    return _certainly_valid(case)


def validate_case(case, file: str, today: dt.date) -> None:
    """Schema plus the rules a schema cannot say. Raises CaseError listing every problem."""
    if _schema_valid(case):
        found = []
    else:
        from bmdkb.engine.kb import schemas  # the full validator, only for a case the fast check does not vouch for
        found = schemas.problems("case", case, file, describe=schema_message)
    if not found:
        found = _semantic_problems(case, file, today)
    if found:
        raise CaseError(found)


def schema_message(error) -> str | None:
    """The wording of a schema error on a BMD value: the plausible range in g/cm2, and a hint
    when the number looks like mg/cm2. None for every other error (the generic wording)."""
    if error.validator in ("maximum", "exclusiveMinimum", "minimum") and error.absolute_path \
            and error.absolute_path[-1] == "bmd_g_cm2":
        hint = " (it looks like mg/cm2: give BMD in g/cm2, e.g. 0.912)" if error.instance > 2.5 else ""
        return f"{error.instance} is outside the plausible range for BMD in g/cm2 (above 0, at most 2.5){hint}"
    return None


def _semantic_problems(case: dict, file: str, today: dt.date) -> list[Problem]:
    found = []
    first_index_of = {}
    for i, scan in enumerate(case["scans"]):
        date = dt.date.fromisoformat(scan["date"])
        if date > today:
            found.append(Problem(file, f"scans[{i}].date", f"{scan['date']} is in the future (today is {today.isoformat()})"))
        if date in first_index_of:
            j = first_index_of[date]
            found.append(Problem(file, f"scans[{i}].date",
                                 f"{scan['date']} is also the date of scans[{j}]; two scans cannot share a date"))
        else:
            first_index_of[date] = i
    started = case.get("treatment", {}).get("started")
    if started and dt.date.fromisoformat(started) > today:
        found.append(Problem(file, "treatment.started", f"{started} is in the future (today is {today.isoformat()})"))
    return found


def case_to_facts(case: dict, treatment_classes: dict[str, str]) -> list[Fact]:
    """Input facts first (each with its input field paths), then derived facts."""
    numbers = itertools.count(1)
    facts: list[Fact] = []

    def add(type_, fields, paths=None, derived_from=None) -> Fact:
        kept = {k: v for k, v in fields.items() if v is not None}
        fact = Fact(f"f{next(numbers)}", type_, kept,
                    {k: p for k, p in paths.items() if k in kept} if paths else {}, derived_from or [])
        facts.append(fact)
        return fact

    patient = case.get("patient", {})
    add("patient", dict(patient), {k: f"patient.{k}" for k in patient})
    risk = case.get("risk", {})
    add("risk", dict(risk), {k: f"risk.{k}" for k in risk})

    order = sorted(range(len(case["scans"])), key=lambda i: case["scans"][i]["date"])
    latest_date = case["scans"][order[-1]]["date"]
    treatment = dict(case.get("treatment", {}))
    paths = {k: f"treatment.{k}" for k in treatment}
    if "agent" in treatment:
        treatment["agent_class"] = treatment_classes.get(treatment["agent"])
        paths["agent_class"] = "treatment.agent"
    started = treatment.get("started")
    if started:
        days = (dt.date.fromisoformat(latest_date) - dt.date.fromisoformat(started)).days
        treatment["months_on_treatment"] = _months(days)
        paths["months_on_treatment"] = "treatment.started"
        # Exact sign of the exposure: negative when the drug was started after the latest scan
        # (months_on_treatment, rounded to 0.1, can read -0.0 for a start one day later).
        treatment["days_on_treatment"] = days
        paths["days_on_treatment"] = "treatment.started"
    treatment_fact = add("treatment", treatment, paths)

    for name, value in sorted(case.get("findings", {}).items()):
        add("finding", {"name": name, "value": value}, {"value": f"findings.{name}"})
    for name, value in sorted(case.get("labs", {}).items()):
        add("lab", {"name": name, "value": value}, {"value": f"labs.{name}"})
    lsc_facts = {}
    for site, value in case.get("facility", {}).get("lsc_g_cm2", {}).items():
        lsc_facts[site] = add("lsc", {"site": site, "lsc_g_cm2": value}, {"lsc_g_cm2": f"facility.lsc_g_cm2.{site}"})

    scan_facts, measurements = [], []
    for position, i in enumerate(order):
        raw = case["scans"][i]
        scanner = raw.get("scanner", {})
        fields = {"scan": position, "date": raw["date"], "manufacturer": normalise(scanner.get("manufacturer")),
                  "model": normalise(scanner.get("model")), "scanner_id": normalise(scanner.get("id")),
                  "weight_kg": raw.get("weight_kg")}
        paths = {"scan": f"scans[{i}]", "date": f"scans[{i}].date", "manufacturer": f"scans[{i}].scanner.manufacturer",
                 "model": f"scans[{i}].scanner.model", "scanner_id": f"scans[{i}].scanner.id",
                 "weight_kg": f"scans[{i}].weight_kg"}
        scan_facts.append(add("scan", fields, paths))
        per_site = {}
        for site in SITES:
            if site in raw.get("sites", {}):
                values = raw["sites"][site]
                values = {k: normalise(v) if k in SITE_TEXT else v for k, v in values.items()}
                per_site[site] = add("measurement", {"scan": position, "site": site, **values},
                                     {k: f"scans[{i}].sites.{site}.{k}" for k in values})
        measurements.append(per_site)

    last = len(order) - 1
    for k in range(last):
        before, after = scan_facts[k], scan_facts[k + 1]
        compared = [s for s in SITES if s in measurements[k] and s in measurements[k + 1]]
        interval = _interval_fields(before, after, measurements[k], measurements[k + 1], compared, case)
        interval.update({"interval": k, "recency": last - 1 - k})
        sources = [before.id, after.id]
        if started:
            # Was the drug already started at the interval's first scan, so that the whole
            # interval was on it? Unknown (absent) when no start date is recorded.
            interval["on_treatment_from_start"] = started <= before.fields["date"]
            sources.append(treatment_fact.id)
        add("interval", interval, derived_from=sources)
        for site in compared:
            m0, m1 = measurements[k][site], measurements[k + 1][site]
            fields = _site_change(site, m0, m1, lsc_facts.get(site), before.fields, after.fields, case)
            fields.update({"interval": k, "recency": last - 1 - k})
            sources = [m0.id, m1.id, before.id, after.id] + ([lsc_facts[site].id] if site in lsc_facts else [])
            add("site_change", fields, derived_from=sources)
    return facts


def _same(a: dict, b: dict, key: str):
    if key in a and key in b:
        return a[key] == b[key]
    return None


def _recorded(case: dict, fact: Fact, field: str):
    """The text the case recorded for a normalised field (for messages), read at the fact's path."""
    node = case
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", fact.paths[field]):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def _interval_fields(s0: Fact, s1: Fact, m0: dict, m1: dict, compared: list[str], case: dict) -> dict:
    a, b = s0.fields, s1.fields
    days = (dt.date.fromisoformat(b["date"]) - dt.date.fromisoformat(a["date"])).days
    checks = {"same_manufacturer": _same(a, b, "manufacturer"), "same_scanner_id": _same(a, b, "scanner_id")}
    # The model is compared too, but a model not recorded leaves the technique verifiable
    # (the scanner id identifies the machine); only a recorded difference counts.
    same_model = _same(a, b, "model")
    if "lumbar_spine" in compared:
        checks["same_spine_region"] = _same(m0["lumbar_spine"].fields, m1["lumbar_spine"].fields, "region")
    hips = [s for s in ("total_hip", "femoral_neck") if s in compared]
    if hips:
        sides = [_same(m0[s].fields, m1[s].fields, "side") for s in hips]
        checks["same_hip_side"] = False if False in sides else (None if None in sides else True)
    def then(f0: Fact, f1: Fact, field: str) -> str:
        return f"{_recorded(case, f0, field)} then {_recorded(case, f1, field)}"

    differences = []
    if checks["same_manufacturer"] is False:
        differences.append(f"scanner manufacturer {then(s0, s1, 'manufacturer')}")
    elif checks["same_scanner_id"] is False:
        differences.append(f"scanner {then(s0, s1, 'scanner_id')}")
    elif same_model is False:
        differences.append(f"scanner model {then(s0, s1, 'model')}")
    if checks.get("same_spine_region") is False:
        differences.append(f"spine region {then(m0['lumbar_spine'], m1['lumbar_spine'], 'region')}")
    if checks.get("same_hip_side") is False:
        differences.append("hip side differs")
    fields = {"from_date": a["date"], "to_date": b["date"],
              "months": _months(days), **checks, "same_model": same_model}
    values = list(checks.values())
    fields["technique_consistent"] = False if False in values + [same_model] else (None if None in values else True)
    fields["technique_verified"] = None not in values
    if differences:
        fields["technique_differences"] = differences
    if "weight_kg" in a and "weight_kg" in b:
        w0, w1 = _exact(a["weight_kg"]), _exact(b["weight_kg"])
        change = _ratio(w1 - w0, w0, 100)
        fields["weight_change_pct"] = change
        fields["weight_change_abs_pct"] = abs(change)  # rounding to nearest is symmetric: |float(x)| = float(|x|)
    return fields


def _site_change(site: str, f0: Fact, f1: Fact, lsc: Fact | None, scan0: dict, scan1: dict, case: dict) -> dict:
    m0, m1 = f0.fields, f1.fields
    fields = {"site": site, "region": REGION[site],
              "bmd_available": "bmd_g_cm2" in m0 and "bmd_g_cm2" in m1,
              "t_scores_available": "t_score" in m0 and "t_score" in m1,
              # a scan that reports the site's T-score without its BMD in g/cm2 (the other scan
              # may have BMD, a T-score or both): the change cannot be judged in g/cm2
              "t_score_without_bmd": any("t_score" in m and "bmd_g_cm2" not in m for m in (m0, m1)),
              "lsc_available": lsc is not None}
    reason = None
    if _same(scan0, scan1, "manufacturer") is False:
        reason = "different scanner manufacturers: no cross-calibration, g/cm2 values cannot be compared"
    elif site == "lumbar_spine" and _same(m0, m1, "region") is False:
        reason = f"different spine regions ({_recorded(case, f0, 'region')} then {_recorded(case, f1, 'region')})"
    elif site != "lumbar_spine" and _same(m0, m1, "side") is False:
        reason = f"different hip sides ({_recorded(case, f0, 'side')} then {_recorded(case, f1, 'side')})"
    fields["comparable"] = reason is None
    if reason:
        fields["not_comparable_because"] = reason
    if fields["bmd_available"]:
        b0, b1 = _exact(m0["bmd_g_cm2"]), _exact(m1["bmd_g_cm2"])
        delta = b1 - b0
        fields.update({"bmd_before_g_cm2": float(b0), "bmd_after_g_cm2": float(b1),
                       "delta_g_cm2": _as_number(delta),
                       "percent_change": _ratio(delta, b0, 100)})
        if lsc is not None:
            value = _exact(lsc.fields["lsc_g_cm2"])
            fields["lsc_g_cm2"] = float(value)
            fields["change_in_lsc"] = _ratio(delta, value)
    return fields


SITE_NAMES = {"lumbar_spine": "Lumbar spine", "total_hip": "Total hip", "femoral_neck": "Femoral neck"}


def summary_lines(result_facts: list[dict]) -> list[str]:
    """The most recent interval's per-site changes in the case's own units, for renderers."""
    lines = []
    scans = [f for f in result_facts if f["type"] == "scan"]
    if len(scans) == 1:
        lines.append(f"One scan only ({scans[0].get('date')}): a change needs two scans, so no change can be judged")
    for fact in result_facts:
        if fact["type"] == "interval" and fact.get("recency") == 0:
            lines.append(f"Most recent interval: {fact['from_date']} to {fact['to_date']} ({fact['months']} months)")
    for fact in result_facts:
        if fact["type"] != "site_change" or fact.get("recency") != 0:
            continue
        name = f"{SITE_NAMES.get(fact['site'], fact['site'])}:".ljust(14)
        if "delta_g_cm2" not in fact:
            lines.append(f"  {name}no BMD in g/cm2 on both scans")
            continue
        text = f"  {name}{fact['delta_g_cm2']:+.3f} g/cm2 ({fact['percent_change']:+.1f}%)"
        if "lsc_g_cm2" in fact:
            text += f" = {fact['change_in_lsc']:+.2f} LSC (LSC {fact['lsc_g_cm2']:.3f} g/cm2)"
        else:
            text += ", no facility LSC"
        if not fact.get("comparable", True):
            text += f"; not comparable: {fact.get('not_comparable_because', '')}"
        lines.append(text)
    return lines
