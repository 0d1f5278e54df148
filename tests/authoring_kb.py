"""A small knowledge base with rule tests, for the authoring toolkit's tests.

Built from the mini fixture KB (4 rules): one example case, a test file per
rule, only the parameter the rules use, no reference numbers cited, and a
two-code contract, so that lint reports nothing and `bmdkb test` passes with
every rule covered; each test then breaks one thing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from bmdkb.engine.common.yamlio import load_file

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CONTRACT = [{"code": "pattern.spine_up_hip_down", "kind": "pattern"}, {"code": "check.fall_risk", "kind": "check"}]

TESTS = {
    "measurement/measurement.significant_decrease": """\
kind: rule-tests
rule: measurement.significant_decrease
cases:
  - name: total hip fell by more than its LSC
    case: demo.yaml
    expect:
      fires: [pattern.spine_up_hip_down]
  - name: hip unchanged
    case: demo.yaml
    set: {'scans[1].sites.total_hip.bmd_g_cm2': 0.781, 'scans[1].sites.femoral_neck.bmd_g_cm2': 0.650}
    expect:
      absent: [pattern.spine_up_hip_down]
""",
    "measurement/measurement.significant_increase": """\
kind: rule-tests
rule: measurement.significant_increase
cases:
  - name: spine unchanged
    case: demo.yaml
    set: {'scans[1].sites.lumbar_spine.bmd_g_cm2': 0.912}
    expect:
      absent: [pattern.spine_up_hip_down]
""",
    "pattern/pattern.spine_up_hip_down": """\
kind: rule-tests
rule: pattern.spine_up_hip_down
cases:
  - name: spine up and hip down
    case: demo.yaml
    expect:
      fires: [pattern.spine_up_hip_down]
      support: {pattern.spine_up_hip_down: considered}
      because: {pattern.spine_up_hip_down: ['measurement.significant_increase(f26)']}
""",
    "check/check.fall_risk.considered": """\
kind: rule-tests
rule: check.fall_risk.considered
cases:
  - name: fracture risk not recorded
    case: demo.yaml
    unset: [risk.fracture_risk]
    expect:
      fires: [check.fall_risk]
  - name: fracture risk recorded as high
    case: demo.yaml
    expect:
      fires: [pattern.spine_up_hip_down]
      absent: [check.fall_risk]
""",
}


def build(root: Path) -> Path:
    """Turn a copy of the mini KB at ``root`` into the authoring KB; returns ``root``."""
    cases = root / "knowledge" / "cases"
    cases.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "demo-case.yaml", cases / "demo.yaml")
    params_path = root / "knowledge" / "facts" / "parameters.yaml"
    params = load_file(params_path)
    params["parameters"] = [p for p in params["parameters"] if p["id"] == "significance_threshold_lsc"]
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    for name in ("reference-responses.yaml", "treatment-classes.yaml"):   # cite no reference numbers
        path = root / "knowledge" / "facts" / name
        path.chmod(0o644)
        path.write_text(path.read_text().replace("references: [1]", "references: []").replace("references: [3]", "references: []"))
    for stem, text in TESTS.items():
        (root / "knowledge" / "rules" / f"{stem}.test.yaml").write_text(text)
    for path in root.rglob("*"):   # copied fixtures may be read-only
        path.chmod(path.stat().st_mode | 0o200)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
