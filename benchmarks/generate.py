"""Seeded generator of realistic DXA cases for the benchmark and the batch tests.

The mix follows what a registry holds: most cases concordant (both sites stable
or moving together), a fifth discordant (spine up, hip down), and a tail of
recorded artefacts, missing data (no LSC, no risk, T-scores only), technique
changes and exact-LSC boundaries. Values are reported to 0.001 g/cm2 as DXA
reports them. The same seed always gives the same cases.

    python benchmarks/generate.py 5000 --seed 1 -o cases.jsonl [--bad 0.01]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys

SITES = ("lumbar_spine", "total_hip", "femoral_neck")
BASE_BMD = {"lumbar_spine": (700, 1100), "total_hip": (600, 950), "femoral_neck": (500, 850)}
LSC = {"lumbar_spine": (20, 35), "total_hip": (15, 30), "femoral_neck": (25, 40)}
AGENTS = (["alendronate"] * 8 + ["risedronate"] * 3 + ["zoledronic_acid"] * 3 + ["ibandronate", "denosumab",
          "denosumab", "denosumab", "teriparatide", "teriparatide", "abaloparatide", "romosozumab",
          "raloxifene", "hormone_therapy", "other"])
FINDINGS = ("degenerative_spine_changes", "aortic_calcification", "vertebral_compression_fracture",
            "hip_positioning_issue", "localized_hip_disease")
SCANNERS = [("Hologic", "Horizon A", "DXA-1"), ("Hologic", "Horizon W", "DXA-2"),
            ("GE HealthCare", "Lunar Prodigy", "LUNAR-1"), ("GE HealthCare", "Lunar iDXA", "LUNAR-2")]


def _thousandths(k: int) -> float:
    return round(k / 1000, 3)


def _step(rng: random.Random, lsc: int, direction: str) -> int:
    """A change in thousandths of g/cm2 that is an increase, decrease, stable or exactly one LSC."""
    if direction == "increase":
        return lsc + rng.randint(0, 40)
    if direction == "decrease":
        return -lsc - rng.randint(0, 40)
    if direction == "boundary_up":
        return lsc
    if direction == "boundary_down":
        return -lsc
    return rng.randint(-lsc + 1, lsc - 1)


def _directions(rng: random.Random, kind: str) -> dict:
    """Per-site direction of the most recent interval for one kind of case."""
    if kind == "discordant":
        hips = rng.choice([("decrease", "decrease"), ("decrease", "stable"), ("stable", "decrease"),
                           ("decrease", "increase")])
        return {"lumbar_spine": "increase", "total_hip": hips[0], "femoral_neck": hips[1]}
    if kind == "boundary":
        return {"lumbar_spine": rng.choice(["boundary_up", "increase"]),
                "total_hip": rng.choice(["boundary_down", "stable"]),
                "femoral_neck": rng.choice(["boundary_down", "boundary_up", "stable"])}
    together = rng.choices(["stable", "increase", "decrease", "mixed"], [50, 25, 15, 10])[0]
    if together == "mixed":
        return {s: rng.choice(["stable", "increase", "decrease"]) for s in SITES}
    return {s: together for s in SITES}


def generate_case(rng: random.Random, case_id: str) -> dict:
    kind = rng.choices(["concordant", "discordant", "boundary"], [75, 20, 5])[0]
    n_scans = rng.choices([1, 2, 3, 4], [3, 70, 22, 5])[0]
    lsc = {s: rng.randint(*LSC[s]) for s in SITES}
    case = {"case_id": case_id}
    if rng.random() < 0.95:
        case["patient"] = {"sex": rng.choices(["female", "male"], [85, 15])[0], "age_years": rng.randint(50, 90)}
    if rng.random() > 0.05:  # 5%: no facility LSC at all; another 5%: one site missing
        lsc_map = {s: _thousandths(lsc[s]) for s in SITES}
        if rng.random() < 0.05:
            del lsc_map[rng.choice(SITES)]
        case["facility"] = {"lsc_g_cm2": lsc_map}

    t_scores_only = rng.random() < 0.03
    scanner = rng.choice(SCANNERS[:2] if rng.random() < 0.7 else SCANNERS[2:])
    no_scanner = rng.random() < 0.04
    region, side = "L1-L4", rng.choice(["left", "right", "left"])
    weight = round(rng.uniform(45, 95), 1)
    bmd = {s: rng.randint(*BASE_BMD[s]) for s in SITES}
    site_set = [s for s in SITES if rng.random() > 0.04] or ["lumbar_spine", "total_hip"]
    date = dt.date(rng.randint(2014, 2018), rng.randint(1, 12), rng.randint(1, 28))
    scans = []
    for k in range(n_scans):
        if k > 0:
            date = date + dt.timedelta(days=rng.randint(330, 800))
            last = k == n_scans - 1
            directions = _directions(rng, kind) if last else _directions(rng, rng.choice(["concordant", "discordant"]))
            for s in SITES:
                bmd[s] = max(300, bmd[s] + _step(rng, lsc[s], directions[s]))
            weight = round(weight * (1 + rng.choice([0, 0, 0, 0.01, -0.02, 0.03, -0.06, 0.07])), 1)
            if last and rng.random() < 0.04:  # technique changes on the latest scan
                change = rng.choice(["manufacturer", "scanner_id", "region", "side"])
                if change == "manufacturer":
                    scanner = rng.choice([x for x in SCANNERS if x[0] != scanner[0]])
                elif change == "scanner_id":
                    scanner = rng.choice([x for x in SCANNERS if x[0] == scanner[0] and x != scanner])
                elif change == "region":
                    region = "L2-L4"
                else:
                    side = "right" if side == "left" else "left"
        sites = {}
        for s in site_set:
            entry = {} if t_scores_only else {"bmd_g_cm2": _thousandths(bmd[s])}
            entry["t_score"] = round((bmd[s] - 1000) / 120, 1) if s == "lumbar_spine" else round((bmd[s] - 900) / 120, 1)
            if s == "lumbar_spine":
                entry["region"] = region
            else:
                entry["side"] = side
            sites[s] = entry
        if rng.random() < 0.05 and "lumbar_spine" in sites:  # the same region written with an en dash
            sites["lumbar_spine"]["region"] = region.replace("-", "\u2013")
        scan = {"date": date.isoformat()}
        if not no_scanner:
            maker = scanner[0].upper() if rng.random() < 0.05 else scanner[0]
            scan["scanner"] = {"manufacturer": maker, "model": scanner[1], "id": scanner[2]}
        if rng.random() > 0.05:
            scan["weight_kg"] = weight
        scan["sites"] = sites
        scans.append(scan)
    if rng.random() < 0.1:
        rng.shuffle(scans)  # order in the file does not matter, dates do
    case["scans"] = scans

    status = rng.choices(["naive", "current", "past", None], [25, 60, 10, 5])[0]
    if status:
        treatment = {"status": status}
        if status != "naive":
            if rng.random() < 0.97:
                treatment["agent"] = rng.choice(AGENTS)
            first = dt.date.fromisoformat(min(s["date"] for s in scans))
            latest = dt.date.fromisoformat(max(s["date"] for s in scans))
            when = rng.choices(["before", "between", "after", "unknown"], [82, 8, 4, 6])[0]
            if when == "before":
                treatment["started"] = (first - dt.timedelta(days=rng.randint(0, 900))).isoformat()
            elif when == "between":  # during the scans: part of an interval, or little time, on the drug
                treatment["started"] = (first + dt.timedelta(days=rng.randint(0, (latest - first).days))).isoformat()
            elif when == "after":  # started after the latest scan (not in the future: scans end by 2030)
                treatment["started"] = (latest + dt.timedelta(days=rng.randint(1, 60))).isoformat()
            treatment["adherence"] = rng.choices(["good", "partial", "poor", "unknown"], [70, 15, 5, 10])[0]
        case["treatment"] = treatment
    if rng.random() < 0.8:
        findings = {}
        for name in FINDINGS:
            if rng.random() < 0.85:
                findings[name] = rng.random() < 0.08
        case["findings"] = findings
    if rng.random() < 0.7:
        labs = {}
        if rng.random() < 0.9:
            labs["vitamin_d_25oh_ng_ml"] = rng.randint(8, 60)
        if rng.random() < 0.8:
            labs["pth_pg_ml"] = rng.randint(15, 95)
        if rng.random() < 0.8:
            labs["calcium_mg_dl"] = round(rng.uniform(8.6, 10.9), 1)
        if rng.random() < 0.4:
            labs["p1np_ug_l"] = rng.randint(10, 90)
        if rng.random() < 0.4:
            labs["ctx_ng_l"] = rng.randint(50, 700)
        case["labs"] = labs
    if rng.random() < 0.9:
        risk = {}
        if rng.random() < 0.85:
            risk["fracture_risk"] = rng.choices(["low", "moderate", "high", "very_high", "unknown"], [20, 35, 25, 10, 10])[0]
        if rng.random() < 0.9:
            risk["falls_past_year"] = rng.choices([0, 1, 2, 3], [70, 18, 8, 4])[0]
        if rng.random() < 0.8:
            risk["prior_fragility_fracture"] = rng.random() < 0.2
        case["risk"] = risk
    return case


def _spoil(rng: random.Random, case: dict) -> dict:
    """One of the bad inputs the contract says must be caught."""
    how = rng.choice(["mg", "tscore", "same_date", "future", "site", "agent", "lsc", "no_scans"])
    scan = case["scans"][0]
    if (how == "mg" and "bmd_g_cm2" not in scan["sites"].get("lumbar_spine", {})) \
            or (how == "same_date" and len(case["scans"]) < 2):
        how = "site"
    if how == "mg":
        scan["sites"]["lumbar_spine"]["bmd_g_cm2"] = 912
    elif how == "tscore":
        scan["sites"].setdefault("total_hip", {})["t_score"] = -14.2
    elif how == "same_date":
        case["scans"][1]["date"] = scan["date"]
    elif how == "future":
        scan["date"] = "2999-01-01"
    elif how == "agent":
        case["treatment"] = {"status": "current", "agent": "vitamin_k"}
    elif how == "lsc":
        case["facility"] = {"lsc_g_cm2": {"total_hip": -0.02}}
    elif how == "no_scans":
        case["scans"] = []
    else:
        scan["sites"]["distal_radius"] = {"bmd_g_cm2": 0.6}
    return case


def generate(n: int, seed: int = 0, bad: float = 0.0):
    """``n`` cases as dicts; a fraction ``bad`` of them are spoiled so they must be refused."""
    rng = random.Random(seed)
    for i in range(n):
        case = generate_case(rng, f"gen-{seed}-{i:07d}")
        if bad and rng.random() < bad:
            case = _spoil(rng, case)
        yield case


def write_jsonl(path, n: int, seed: int = 0, bad: float = 0.0, garbage_every: int = 0) -> int:
    """Write ``n`` generated cases as JSON Lines; every ``garbage_every``-th line is not JSON."""
    with open(path, "w", encoding="utf-8") as out:
        for i, case in enumerate(generate(n, seed, bad)):
            if garbage_every and i % garbage_every == garbage_every - 1:
                out.write('{"case_id": "torn", "scans": [\n')
            else:
                out.write(json.dumps(case, separators=(",", ":")) + "\n")
    return n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bad", type=float, default=0.0, help="fraction of cases spoiled on purpose")
    parser.add_argument("-o", "--output", default="-")
    args = parser.parse_args(argv)
    if args.output == "-":
        for case in generate(args.n, args.seed, args.bad):
            sys.stdout.write(json.dumps(case, separators=(",", ":")) + "\n")
    else:
        write_jsonl(args.output, args.n, args.seed, args.bad)


if __name__ == "__main__":
    main()
