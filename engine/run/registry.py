"""Registry-sized batch output: the compact line and the Parquet rows of one case.

``batch --output-format full`` writes each case's whole result document (about 12 KB: every
fact with its input paths, every statement and citation). A registry analysis needs far less:
which case, which knowledge base, what was concluded with what support by which rule version,
on which facts, and whether a caution applies. ``compact`` writes that as one JSON line (about
1 KB; schemas/compact-result.schema.json); ``parquet`` writes one row per case and conclusion
(a case with none gets one row with no code) into a folder of Parquet part files that DuckDB,
pandas and pyarrow read as one table. The rule digests, which the knowledge-base digest already
pins, are written once per run, in the run record (``OUTPUT.run.json`` ``rules``), not on every
line; Parquet carries them in a column (dictionary-encoded, so they cost next to nothing).

Error lines are the same in every format: a compact output has exactly the error lines a full
one has, and a Parquet row of a failed case carries that same line in its ``error`` column.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from bmdkb.engine.common.errors import BmdkbError, Problem

FORMATS = ("full", "compact", "parquet")
PART_CASES = 4096          # cases per Parquet part file: a crash loses at most this much work
PART_PREFIX = "part-"
COLUMNS = ("case_index", "case_id", "source", "kb_name", "kb_version", "kb_digest", "mode", "patterns",
           "withheld", "code", "kind", "support", "rule", "rule_version", "rule_status", "rule_digest",
           "caution", "because", "error")


class RegistryOutputError(BmdkbError):
    """A Parquet output that cannot be written or resumed (pyarrow missing, a folder holding other files)."""


# ---------------------------------------------------------------- compact lines

def compact(result) -> dict:
    """The compact document of one result (document.Result), keys in their documented order."""
    kb = result.knowledge_base
    out = {
        "case_id": result.case_id,
        "knowledge_base": {"name": kb.name, "version": kb.version, "digest": kb.digest},
        "mode": result.mode,
        "patterns": list(result.summary.patterns),
        "conclusions": [_compact_conclusion(c) for c in result.conclusions],
    }
    if result.summary.withheld_conclusions is not None:
        out["withheld"] = [{"code": w.code, "kind": w.kind} for w in result.summary.withheld_conclusions]
    return out


def _compact_conclusion(c) -> dict:
    out = {"code": c.code, "support": c.support, "rule": c.rule.id, "version": c.rule.version,
           "because": list(c.because)}
    if c.caution is not None:
        out["caution"] = c.caution
    return out


def info(result, headline: str | None) -> tuple:
    """What the batch summary counts of one result (as batch._result_info reads a full document)."""
    withheld = tuple(w.code for w in (result.summary.withheld_conclusions or ()) if w.kind == headline)
    return ("ok", tuple(result.summary.patterns), tuple(c.code for c in result.conclusions), withheld)


def compact_info(doc: dict, headline: str | None) -> tuple:
    """The same counts, read back from a compact line (``--resume``)."""
    withheld = tuple(w["code"] for w in doc.get("withheld", []) if w["kind"] == headline)
    return ("ok", tuple(doc["patterns"]), tuple(c["code"] for c in doc["conclusions"]), withheld)


def rules_table(kb, statuses) -> dict:
    """Rule id -> version, kind, review status and content digest: written once per compact or
    Parquet run (the lines name rules by id and version)."""
    return {rule_id: {"version": rule.version, "kind": rule.kind, "status": statuses[rule_id].status,
                      "digest": rule.digest} for rule_id, rule in kb.rules.items()}


# ---------------------------------------------------------------- Parquet rows

def rows(result, index: int, source: str) -> list[tuple]:
    """One case's Parquet rows (COLUMNS order): one per conclusion, or one with no code."""
    kb = result.knowledge_base
    head = (index, result.case_id, source, kb.name, kb.version, kb.digest, result.mode,
            list(result.summary.patterns),
            [w.code for w in result.summary.withheld_conclusions] if result.summary.withheld_conclusions else [])
    out = [head + (c.code, c.kind, c.support, c.rule.id, c.rule.version, c.rule.status, c.rule.digest, c.caution,
                   list(c.because), None) for c in result.conclusions]
    return out or [head + (None,) * 8 + ([], None)]


def error_rows(index: int, case_id, source: str, line: str) -> list[tuple]:
    """The one Parquet row of a case that failed: its error line, unchanged, in ``error``."""
    return [(index, case_id, source) + (None,) * 4 + ([], []) + (None,) * 8 + ([], line)]


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RegistryOutputError(Problem("--output-format", "", "parquet needs pyarrow: pip install "
                                                                 "'bmdkb[parquet]'")) from None
    return pa, pq


def schema():
    """The Arrow schema of the Parquet rows."""
    pa, _ = _pyarrow()
    text, names = pa.string(), pa.list_(pa.string())
    types = {"case_index": pa.int64(), "rule_version": pa.int64(), "patterns": names, "withheld": names,
             "because": names}
    return pa.schema([(name, types.get(name, text)) for name in COLUMNS])


class ParquetParts:
    """A folder of Parquet part files, one per PART_CASES cases, each written whole (a temporary
    file, then renamed), so an interrupted run leaves only complete parts for ``--resume``."""

    def __init__(self, folder: Path, resume: bool):
        self.pa, self.pq = _pyarrow()
        self.folder = folder
        self.schema = schema()
        self.buffer: list = []
        self.cases = 0
        if folder.exists() and not folder.is_dir():
            raise RegistryOutputError(Problem(str(folder), "", "is a file; a Parquet output is a folder of part "
                                                               "files: give a new or Parquet output path"))
        folder.mkdir(exist_ok=True)
        strangers = [p.name for p in folder.iterdir() if not p.name.startswith(PART_PREFIX)]
        if strangers:
            raise RegistryOutputError(Problem(str(folder), "", f"holds files bmdkb batch did not write "
                                                               f"({strangers[0]}...); give an empty or new folder"))
        for stale in folder.glob(f"{PART_PREFIX}*.tmp"):
            stale.unlink()
        if not resume:
            for part in self.parts():
                part.unlink()
        self.next_part = len(self.parts())

    def parts(self) -> list[Path]:
        """The complete part files, in order."""
        return sorted(self.folder.glob(f"{PART_PREFIX}*.parquet"))

    def read_back(self):
        """Every complete part's rows, case by case: (case_index, case_id, codes, patterns, withheld, error)."""
        for part in self.parts():
            table = self.pq.read_table(part, columns=["case_index", "case_id", "code", "patterns", "withheld",
                                                      "error"])
            current = None
            for row in table.to_pylist():
                if current is not None and row["case_index"] != current[0]:
                    yield current
                    current = None
                if current is None:
                    current = (row["case_index"], row["case_id"], [], row["patterns"], row["withheld"], row["error"])
                if row["code"] is not None:
                    current[2].append(row["code"])
            if current is not None:
                yield current

    def add(self, case_rows: list) -> None:
        """Buffer one case's rows; a full part is written out."""
        self.buffer.extend(case_rows)
        self.cases += 1
        if self.cases >= PART_CASES:
            self.flush()

    def flush(self) -> None:
        """Write the buffered cases as the next part file (nothing when none are buffered)."""
        if not self.buffer:
            return
        columns = list(zip(*self.buffer))
        table = self.pa.table([self.pa.array(list(col), type=self.schema.field(i).type)
                               for i, col in enumerate(columns)], schema=self.schema)
        final = self.folder / f"{PART_PREFIX}{self.next_part:05d}.parquet"
        temporary = final.with_name(final.name + ".tmp")
        try:
            self.pq.write_table(table, temporary, use_dictionary=True, compression="zstd")
            os.replace(temporary, final)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise RegistryOutputError(Problem(str(final), "", f"cannot be written: {exc.strerror or exc}; the "
                                                              "folder holds every earlier part: --resume continues"
                                              )) from None
        self.next_part += 1
        self.buffer, self.cases = [], 0


def error_line_info(line: str) -> tuple:
    """The summary counts of a failed case, from its error line (as batch.Summary.add_line reads it)."""
    doc = json.loads(line)
    return ("error", doc["error"].get("kind", "input"), doc["case_index"], doc["error"]["message"].split("\n", 1)[0])
