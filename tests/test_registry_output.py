"""`batch --output-format compact|parquet`: registry-sized output that says what the full output
says about each case's conclusions (codes, support, rule ids and versions, cautions, because ids),
keeps error lines unchanged, and resumes like the full output."""
from __future__ import annotations

import datetime as dt
import json
import sys

import jsonschema
import pytest

from bmdkb.cli.main import cli
from bmdkb.engine.common.errors import BmdkbError
from bmdkb.engine.run import batch, registry

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
TODAY = dt.date(2030, 1, 1)
SCHEMA = json.loads((REPO / "schemas" / "compact-result.schema.json").read_text())


@pytest.fixture(scope="module")
def registry_run(kb, tmp_path_factory):
    """One input (a tenth of it spoiled) run in every format."""
    folder = tmp_path_factory.mktemp("registry")
    source = folder / "in.jsonl"
    source.write_text("".join(json.dumps(c) + "\n" for c in generate.generate(300, seed=12, bad=0.1)))
    for fmt in registry.FORMATS:
        batch.run(kb, source, folder / f"out.{fmt}", workers=1, output_format=fmt, now=NOW, today=TODAY)
    return folder


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_compact_lines_follow_their_schema_and_say_what_the_full_lines_say(registry_run):
    full, compact = lines(registry_run / "out.full"), lines(registry_run / "out.compact")
    assert len(full) == len(compact) == 300
    for whole, small in zip(full, compact):
        if "error" in whole:
            assert small == whole   # error lines unchanged
            continue
        jsonschema.validate(small, SCHEMA)
        assert small["case_id"] == whole["case_id"] and small["knowledge_base"] == whole["knowledge_base"]
        assert small["patterns"] == whole["summary"]["patterns"]
        assert [(c["code"], c["support"], c["rule"], c["version"], c["because"], c.get("caution"))
                for c in small["conclusions"]] == [
            (c["code"], c["support"], c["rule"]["id"], c["rule"]["version"], c["because"], c.get("caution"))
            for c in whole["conclusions"]]


def test_compact_is_about_a_kilobyte_a_case(registry_run):
    full = [line for line in (registry_run / "out.full").read_bytes().splitlines() if b'"error"' not in line[:40]]
    compact = [line for line in (registry_run / "out.compact").read_bytes().splitlines() if b'"error"' not in line[:40]]
    mean = sum(map(len, compact)) / len(compact)
    assert mean < 1400 and mean * 8 < sum(map(len, full)) / len(full)


def test_the_run_record_lists_each_rule_once_and_summaries_agree(kb, registry_run):
    record = json.loads((registry_run / "out.compact.run.json").read_text())
    assert record["output_format"] == "compact"
    assert set(record["rules"]) == set(kb.rules)
    assert record["rules"]["pattern.spine_up_hip_down"]["digest"] == kb.rules["pattern.spine_up_hip_down"].digest
    assert "output_format" not in json.loads((registry_run / "out.full.run.json").read_text())
    summaries = {fmt: (registry_run / f"out.{fmt}.summary.json").read_text() for fmt in registry.FORMATS}
    assert summaries["full"] == summaries["compact"] == summaries["parquet"]


def test_parquet_has_one_row_per_case_and_conclusion(registry_run):
    table = pq.read_table(registry_run / "out.parquet")
    rows = table.to_pylist()
    full = lines(registry_run / "out.full")
    assert len({r["case_index"] for r in rows}) == len(full)
    for index, whole in enumerate(full):
        mine = [r for r in rows if r["case_index"] == index]
        if "error" in whole:
            assert len(mine) == 1 and json.loads(mine[0]["error"]) == whole and mine[0]["code"] is None
            continue
        codes = [r["code"] for r in mine if r["code"] is not None]
        assert codes == [c["code"] for c in whole["conclusions"]]
        assert len(mine) == max(1, len(codes))
        for row, c in zip(mine, whole["conclusions"]):
            assert (row["support"], row["rule"], row["rule_version"], row["rule_digest"], row["because"]) == \
                (c["support"], c["rule"]["id"], c["rule"]["version"], c["rule"]["digest"], c["because"])


def test_parquet_answers_a_registry_question_in_duckdb(registry_run):
    duckdb = pytest.importorskip("duckdb")
    count = duckdb.sql(f"SELECT count(DISTINCT case_id) FROM read_parquet('{registry_run}/out.parquet/*.parquet') "
                       "WHERE code = 'pattern.spine_up_hip_down'").fetchall()[0][0]
    full = lines(registry_run / "out.full")
    assert count == sum("pattern.spine_up_hip_down" in d.get("summary", {}).get("patterns", []) for d in full)


def test_compact_resumes_to_the_uninterrupted_output(kb, registry_run, tmp_path):
    source, whole = registry_run / "in.jsonl", (registry_run / "out.compact").read_bytes()
    out = tmp_path / "out.compact"
    batch.run(kb, source, out, workers=1, output_format="compact", now=NOW, today=TODAY)
    cut = whole.index(b"\n", len(whole) // 2) + 1
    out.write_bytes(whole[:cut] + b'{"case_id": "torn')   # interrupted mid-line
    batch.run(kb, source, out, workers=1, output_format="compact", resume=True, now=NOW, today=TODAY)
    assert out.read_bytes() == whole


def test_resume_refuses_another_output_format(kb, registry_run, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join((registry_run / "out.full").read_bytes().splitlines(keepends=True)[:3]))
    (tmp_path / "out.jsonl.run.json").write_bytes((registry_run / "out.full.run.json").read_bytes())
    with pytest.raises(BmdkbError, match="full output, not compact|a full line, not compact"):
        batch.run(kb, registry_run / "in.jsonl", out, workers=1, output_format="compact", resume=True, now=NOW,
                  today=TODAY)


def test_parquet_resumes_after_the_last_complete_part(kb, registry_run, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "PART_CASES", 40)
    source, out = registry_run / "in.jsonl", tmp_path / "out.parquet"
    batch.run(kb, source, out, workers=1, output_format="parquet", now=NOW, today=TODAY)
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 8   # 300 cases, 40 a part
    expected = pq.read_table(out).to_pylist()
    for part in parts[4:]:
        part.unlink()
    (out / "part-00004.parquet.tmp").write_bytes(b"torn")   # a part being written when the run died
    batch.run(kb, source, out, workers=1, output_format="parquet", resume=True, now=NOW, today=TODAY)
    assert pq.read_table(out).to_pylist() == expected
    assert not list(out.glob("*.tmp"))
    assert (out.parent / "out.parquet.summary.json").read_text() == (registry_run / "out.full.summary.json").read_text()


def test_a_parquet_folder_with_other_files_is_refused(runner, registry_run, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    result = runner.invoke(cli, ["batch", str(registry_run / "in.jsonl"), "-o", str(folder), "--output-format",
                                 "parquet", "--workers", "1"])
    assert result.exit_code == 2 and "did not write" in result.output
    assert (folder / "notes.txt").read_text() == "keep me"


def test_the_command_writes_compact_lines(runner, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(c) + "\n" for c in generate.generate(5, seed=3)))
    result = runner.invoke(cli, ["batch", str(source), "-o", str(tmp_path / "o.jsonl"), "--output-format", "compact",
                                 "--workers", "1", "--engine", "clips"])
    assert result.exit_code == 0, result.output
    for doc in lines(tmp_path / "o.jsonl"):
        jsonschema.validate(doc, SCHEMA)
