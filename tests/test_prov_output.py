"""`--format prov`: the derivation as W3C PROV-JSON (the `prov` package reads it back): input
elements -> facts -> rule firings (with the rule as plan) -> conclusions -> source passages."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from prov.model import ProvDocument

from bmdkb.cli.main import cli

from fhir_bundles import bundle_for
from bmdkb.engine import api

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml"


def test_prov_json_reads_back_and_chains_inputs_to_sources(tmp_path):
    bundle, facility = bundle_for(api.read_case(CASE))
    path, fac = tmp_path / "b.json", tmp_path / "facility.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    fac.write_text(json.dumps(facility), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--facility", str(fac), "--format", "prov", "--kb", str(REPO)])
    assert result.exit_code == 0, result.output
    doc = ProvDocument.deserialize(content=result.stdout, format="json")
    data = json.loads(result.stdout)
    for kind, records in data.items():   # PROV-JSON lists the records that share an identifier
        if kind != "prefix":
            data[kind] = {k: v for key, value in records.items()
                          for k, v in ([(f"{key}#{i}", x) for i, x in enumerate(value)] if isinstance(value, list)
                                       else [(key, value)])}
    pattern = "bmdkb:conclusion/pattern.spine_up_hip_down"
    assert any(k.split("#")[0] == pattern for k in data["entity"])
    generated = [g for g in data["wasGeneratedBy"].values() if g["prov:entity"] == pattern]
    firing = generated[0]["prov:activity"]
    plans = [a["prov:plan"] for a in data["wasAssociatedWith"].values() if a["prov:activity"] == firing]
    assert plans == ["bmdkb:rule/pattern.spine_up_hip_down"]
    sources = [d for d in data["wasDerivedFrom"].values() if d["prov:generatedEntity"] == pattern
               and "PrimarySource" in str(d.get("prov:type"))]
    assert sources and all("bmdkb:source/" in d["prov:usedEntity"] for d in sources)
    assert any(k.startswith("bmdkb:element/Bundle.entry_") for k in data["entity"])   # FHIR elements as inputs
    assert len(doc.get_records()) > 50
