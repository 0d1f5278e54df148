"""Batch evaluation of a whole registry: a stream of cases in, one output line per case out.

Input is JSON Lines (one case per line; blank lines are skipped and not counted)
or a folder of case files (``*.yaml``, ``*.yml``, ``*.json``, in name order).
Output is JSON Lines in input order: the case's result document (exactly what
``bmdkb evaluate --format json`` prints, on one line), or for a case that cannot
be evaluated an error line::

    {"case_index": 7, "case_id": "...", "source": "cases.jsonl:line 8",
     "error": {"kind": "input", "message": "...as evaluate prints it...", "problems": [...]}}

Nothing is dropped: cases = results + errors, and the summary says so.

Cases are evaluated by worker processes (durable_rules holds the GIL, so threads
would not help), each with its own evaluator built after it starts; at most a
few chunks are in flight at once, so memory does not grow with the input. Lines
are written in input order as chunks complete, so an interrupted run leaves a
prefix of the full output (plus at most one torn line), which ``resume`` trims
and continues. The same chunks can run on a Dask cluster instead of local
processes.

Safety. A run never destroys data: it refuses (exit 2, nothing written) an output that is
the input (or its summary or run record is: compared by device and inode, so symlinks and
hard links count), an output inside an input folder, and an output folder that does not
exist. Each run records what produced it in ``OUTPUT.run.json`` (mode, knowledge base,
review-ledger head) before its first line; ``--resume`` refuses an output whose record, or any
result line, says another mode or knowledge base, and an output it cannot attribute at all
(no record and only error lines). Lines are written whole; when a write fails (a full disk)
the output is cut back to its last complete line and the run stops with exit 2, so
``--resume`` continues it once there is room. Worker processes die with their parent
(PR_SET_PDEATHSIG on Linux, and everywhere a thread watching the parent's pid).

It stays one module past 400 lines because its sections carry one line format and one safety
argument: the workers write the lines, the summary counts them, and ``--resume`` reads them back
through the same ``Summary`` and case parser before ``run`` appends, so the guarantees above are
checked in one place (a split along input / workers / summary / resume remains possible).
"""
from __future__ import annotations

import collections
import contextlib
import datetime as dt
import errno
import gc
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from bmdkb.engine.kb.identity import RESULT_KEYS, identity
from bmdkb.engine.review import governance

from bmdkb.engine.review import ledger
from bmdkb.engine.run import registry
from bmdkb.engine.run.cases import parse_case, read_case
from bmdkb.engine.common.errors import BmdkbError, CaseError, Problem
from bmdkb.engine.common import fastjson
from bmdkb.engine.common.limits import MAX_FILE_BYTES
from bmdkb.engine.fhir.evaluate import evaluate_bundle, is_fhir_bundle

CASE_SUFFIXES = (".yaml", ".yml", ".json")
CHUNK = 64              # cases per task: large enough to amortise the hand-off, small enough to keep order cheap
_dumps = fastjson.compact   # byte for byte json.dumps(ensure_ascii=False, separators=(",", ":")), faster
FIRST_ERRORS_KEPT = 20


class BatchError(BmdkbError):
    """A batch that cannot run or resume (bad input path, output that does not match): exit 2."""


class WorkerDied(BmdkbError):
    """A worker process crashed: a defect (exit 1). The output keeps every line before the crash."""

    exit_code = 1


@dataclass(frozen=True)
class Item:
    """One case of the input: its position, the name used in messages, and its raw bytes."""
    index: int
    source: str
    data: bytes | None    # the line's bytes; None: read the file ``source`` in the worker
    as_json: bool


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to evaluate exactly as the parent would."""
    now: dt.datetime      # governance clock: rule statuses
    today: dt.date        # for "date in the future" checks, as `evaluate` uses it
    approved_only: bool = False
    facility: dict | None = None      # FHIR input: the --facility file's content, and its name
    facility_file: str = "--facility"
    engine: str = "durable"   # the rule engine (engine/run/engines.py); both give the same lines
    output_format: str = "full"   # full | compact | parquet (engine/run/registry.py)


# ---------------------------------------------------------------- input

def read_items(path: str | Path, display: str | None = None, skip: int = 0):
    """The input's cases in order, streamed; the first ``skip`` are passed over unread."""
    path = Path(path)
    name = display or str(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CASE_SUFFIXES)
        for index, file in enumerate(files):
            if index >= skip:
                yield Item(index, str(file), None, file.suffix.lower() == ".json")
        return
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise BatchError(Problem(name, "", "no such file or folder")) from None
    except OSError as exc:
        raise BatchError(Problem(name, "", f"cannot be read: {exc.strerror or exc}")) from None
    with handle:
        index, number = 0, 0
        while True:
            # At most MAX_FILE_BYTES + 1 bytes of a line are kept: a longer one is refused as its case.
            line = handle.readline(MAX_FILE_BYTES + 1)
            if not line:
                break
            number += 1
            if len(line) > MAX_FILE_BYTES and not line.endswith(b"\n"):
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
            if not line.strip():
                continue
            if index >= skip:
                yield Item(index, f"{name}:line {number}", line, True)
            index += 1


def _parse(item: Item):
    """The item's case as plain data, with the messages `evaluate` gives for the same bytes."""
    if item.data is None:
        return read_case(item.source, item.source)
    if len(item.data) > MAX_FILE_BYTES:
        raise CaseError(Problem(item.source, "", f"larger than {MAX_FILE_BYTES} bytes (the limit)"))
    try:
        text = item.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaseError(Problem(item.source, "", f"cannot be read: {exc}")) from None
    return parse_case(text, item.source, as_json=item.as_json)


def count_items(path: str | Path) -> int:
    """How many cases the input holds (for the progress bar): one quick pass, nothing parsed."""
    path = Path(path)
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.is_file() and p.suffix.lower() in CASE_SUFFIXES)
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


# ---------------------------------------------------------------- evaluation (runs in workers)

_local = threading.local()   # one evaluator per worker thread (Dask may run several threads per process)


def _evaluator(kb, settings: Settings):
    key = (kb.digest, settings.now, settings.engine)
    cached = getattr(_local, "evaluator", None)
    if cached is None or cached[0] != key:
        from bmdkb.engine.run.evaluate import Evaluator
        cached = (key, Evaluator(kb, now=settings.now, engine=settings.engine))
        _local.evaluator = cached
    return cached[1]


def evaluate_item(evaluator, item: Item, settings: Settings) -> tuple[str, tuple]:
    """One case -> (output line without newline, what the summary counts)."""
    case_id = None
    try:
        case = _parse(item)
        if is_fhir_bundle(case):   # a FHIR Bundle: mapped onto the case, facts at their FHIR paths
            case_id = case.get("id") if isinstance(case.get("id"), str) else None
            evaluation = evaluate_bundle(evaluator, case, item.source, settings.facility, settings.approved_only,
                                         today=settings.today, facility_file=settings.facility_file)
        else:
            if isinstance(case, dict) and isinstance(case.get("case_id"), str):
                case_id = case["case_id"]
            evaluation = evaluator.evaluate(case, item.source, approved_only=settings.approved_only,
                                            today=settings.today)
    except BmdkbError as exc:
        return _error_output(item, case_id, "input" if exc.exit_code == 2 else "defect", str(exc), exc.problems,
                             settings)
    except Exception as exc:  # a defect of bmdkb on this case: reported on its line, the batch goes on
        message = f"internal error: {type(exc).__name__}: {exc}"
        return _error_output(item, case_id, "defect", message, [Problem(item.source, "", message)], settings)
    if settings.output_format == "full":
        result = evaluation.result
        return _dumps(result), _result_info(result, evaluator.kb.headline_kind)
    document = evaluation.document
    if settings.output_format == "compact":
        return _dumps(registry.compact(document)), registry.info(document, evaluator.kb.headline_kind)
    return registry.rows(document, item.index, item.source), registry.info(document, evaluator.kb.headline_kind)


def _error_output(item: Item, case_id, kind: str, message: str, problems, settings: Settings) -> tuple:
    """A failed case's error line (every format writes the same line; Parquet in its ``error`` column)."""
    line, info = _error_line(item, case_id, kind, message, problems)
    if settings.output_format == "parquet":
        return registry.error_rows(item.index, case_id, item.source, line), info
    return line, info


def _result_info(result: dict, headline: str | None) -> tuple:
    """What the summary counts of a result document: patterns (conclusions of the ``headline``
    stage) shown, conclusion codes, and the patterns approved-only mode withheld (found, but
    resting on unapproved rules)."""
    withheld = tuple(w["code"] for w in result["summary"].get("withheld_conclusions", []) if w["kind"] == headline)
    return ("ok", tuple(result["summary"]["patterns"]), tuple(c["code"] for c in result["conclusions"]), withheld)


def _error_line(item: Item, case_id, kind: str, message: str, problems) -> tuple[str, tuple]:
    doc = {"case_index": item.index}
    if case_id is not None:
        doc["case_id"] = case_id
    doc["source"] = item.source
    doc["error"] = {"kind": kind, "message": message,
                    "problems": [{"file": p.file, "field": p.field, "message": p.message} for p in problems]}
    return _dumps(doc), ("error", kind, item.index, message.split("\n", 1)[0])


def evaluate_chunk(kb, settings: Settings, items: list) -> list:
    """Evaluate a list of cases with one evaluator, returning each case's output line and summary counts."""
    evaluator = _evaluator(kb, settings)
    return [evaluate_item(evaluator, item, settings) for item in items]


_worker_state: tuple | None = None


PARENT_POLL_SECONDS = 0.5


def _die_with_parent(parent: int) -> None:
    """End this worker when the batch process that started it ends, however it ends (SIGKILL
    included): the kernel's parent-death signal on Linux, and a thread watching the parent's pid
    on every system (it also covers a parent that died before the signal was armed)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="bmdkb-parent-watch", daemon=True).start()


def _init_worker(kb, settings: Settings, parent: int | None = None):
    global _worker_state
    if parent is not None:
        _die_with_parent(parent)
    _worker_state = (kb, settings)
    _evaluator(kb, settings)
    gc.freeze()  # the knowledge base and compiled rules live as long as the worker: keep them out of GC scans


def _run_chunk(items: list) -> list:
    kb, settings = _worker_state
    return evaluate_chunk(kb, settings, items)


# ---------------------------------------------------------------- summary

@dataclass
class Summary:
    """Running counts for a batch run: cases, results, errors by kind, patterns and conclusions found."""

    cases: int = 0
    results: int = 0
    errors: int = 0
    input_errors: int = 0
    defects: int = 0
    patterns: collections.Counter = field(default_factory=collections.Counter)
    conclusions: collections.Counter = field(default_factory=collections.Counter)
    withheld_patterns: collections.Counter = field(default_factory=collections.Counter)
    first_errors: list = field(default_factory=list)
    headline: str | None = None   # the knowledge base's headline stage (its conclusions are the patterns)

    def add(self, info: tuple) -> None:
        """Count one case's outcome: its patterns and conclusions, or its error."""
        self.cases += 1
        if info[0] == "ok":
            self.results += 1
            for code in info[1] or ("(none)",):
                self.patterns[code] += 1
            self.conclusions.update(info[2])
            self.withheld_patterns.update(info[3])
            return
        _, kind, index, message = info
        self.errors += 1
        if kind == "input":
            self.input_errors += 1
        else:
            self.defects += 1
        if len(self.first_errors) < FIRST_ERRORS_KEPT:
            self.first_errors.append({"case_index": index, "message": message})

    def add_line(self, line: bytes) -> None:
        """Count an output line written by an earlier run (resume)."""
        doc = json.loads(line)
        if "error" in doc and "case_index" in doc:
            message = doc["error"]["message"].split("\n", 1)[0]
            self.add(("error", doc["error"].get("kind", "input"), doc["case_index"], message))
        elif "summary" in doc:
            self.add(_result_info(doc, self.headline))
        else:
            self.add(registry.compact_info(doc, self.headline))

    def to_dict(self, kb, settings: Settings, input_name: str) -> dict:
        """The summary as written to the summary file, naming the input, knowledge base and mode."""
        return {
            "input": input_name,
            "knowledge_base": identity(kb, RESULT_KEYS),
            "mode": _mode(settings),
            "cases": self.cases, "results": self.results, "errors": self.errors,
            "input_errors": self.input_errors, "defects": self.defects,
            "patterns": dict(sorted(self.patterns.items())),
            "conclusions": dict(sorted(self.conclusions.items())),
            "first_errors": self.first_errors,
            # approved-only mode: "(none)" above may be a pattern found but withheld; count those here
            **({"withheld_patterns": dict(sorted(self.withheld_patterns.items()))} if settings.approved_only else {}),
        }


def summary_path(output: str | Path) -> Path:
    """The summary file written next to a batch output file."""
    return Path(str(output) + ".summary.json")


def run_path(output: str | Path) -> Path:
    """Where a run records what produced OUTPUT (read by --resume)."""
    return Path(str(output) + ".run.json")


def run_record(kb, settings: Settings, input_name: str) -> dict:
    """What decides every byte of the output besides the cases: checked by --resume. A compact or
    Parquet run also names its output format and lists each rule's version, status and digest once."""
    record = {
        "written_by": "bmdkb batch",
        "format": 1,
        "input": input_name,
        "knowledge_base": identity(kb, RESULT_KEYS),
        "ledger_head": ledger.read(governance.ledger_path(kb)).head,
        "mode": _mode(settings),
        # FHIR input: the --facility file decides each case's LSC, so a resumed run must use the same
        **({"facility": json.dumps(settings.facility, sort_keys=True)} if settings.facility else {}),
    }
    if settings.output_format != "full":
        record["output_format"] = settings.output_format
        record["rules"] = registry.rules_table(kb, governance.statuses(kb, settings.now))
    return record


def _mode(settings: Settings) -> str:
    return "approved-only" if settings.approved_only else "preview"


# ---------------------------------------------------------------- paths

def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_paths(input_path: Path, output: Path, display: str, folder_output: bool = False) -> None:
    """Refuse (BatchError, exit 2) an output that would destroy the input or cannot be written
    (``folder_output``: the output is a folder of Parquet parts, not a file)."""
    name = str(output)
    if output.is_dir() and not folder_output:
        raise BatchError(Problem(name, "", "is a folder; give the JSON Lines file to write"))
    folder = output.parent
    if not folder.is_dir():
        raise BatchError(Problem(name, "", f"its folder {folder} does not exist (create it first)"))
    for written in (output, summary_path(output), run_path(output)):
        if input_path.is_dir():
            if _same_file(written.parent, input_path) or \
                    os.path.realpath(written).startswith(os.path.realpath(input_path).rstrip(os.sep) + os.sep):
                raise BatchError(Problem(name, "", f"is inside the input folder {display}: its files would be read as "
                                         "cases; write the output elsewhere"))
        elif _same_file(written, input_path):
            what = "is" if written == output else f"{written.name} would be"
            raise BatchError(Problem(name, "", f"{what} the input {display} (the same file): writing it would destroy "
                                     "the registry; give another output file"))


# ---------------------------------------------------------------- resume

def _resume_point(output: Path, kb, summary: Summary, mode: str,
                  output_format: str = "full") -> tuple[int, dict | None, bool]:
    """Trim a torn last line off ``output``; tally its complete lines, each result line checked
    against this run's mode and knowledge base; return their count, the last one, and whether
    any line was a result (errors lines do not record the run)."""
    if not output.exists():
        return 0, None, False
    keep, last, results = 0, None, False
    with open(output, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                summary.add_line(line)
                doc = json.loads(line)
            except (ValueError, KeyError, TypeError):
                raise BatchError(Problem(str(output), f"line {summary.cases + 1}",
                                         "is not a line bmdkb batch wrote; cannot resume this output")) from None
            if "error" not in doc:
                results = True
                _check_same_run(output, f"line {summary.cases}", doc.get("mode"),
                                doc.get("knowledge_base", {}).get("digest"), kb, mode)
                if ("summary" in doc) != (output_format == "full"):
                    written = "full" if "summary" in doc else "compact"
                    raise BatchError(Problem(str(output), f"line {summary.cases}", f"is a {written} line, not "
                                             f"{output_format}: run without --resume to start over"))
            keep += len(line)
            last = doc
    return summary.cases, last, results


def _check_same_run(output: Path, where: str, mode, digest, kb, expected_mode: str) -> None:
    if mode is not None and mode != expected_mode:
        raise BatchError(Problem(str(output), where, f"was written in {mode} mode, not {expected_mode}: resuming "
                                 "would splice two modes into one file; run without --resume to start over"))
    if digest is not None and digest != kb.digest:
        raise BatchError(Problem(str(output), where, f"was written with knowledge base {digest}, not the current "
                                 f"{kb.digest}; run without --resume to start over"))


def _check_record(output: Path, record: dict, kb, done: int, any_result: bool) -> None:
    """The output's run record (OUTPUT.run.json) must say this mode, knowledge base and ledger."""
    path = run_path(output)
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(written, dict) or written.get("written_by") != "bmdkb batch":
            raise ValueError("not a run record")
    except FileNotFoundError:
        if done and not any_result:
            raise BatchError(Problem(str(output), "", f"has no run record ({path.name}) and holds only error lines, "
                                     "so which mode and knowledge base wrote it cannot be checked; run without "
                                     "--resume to start over")) from None
        return
    except (OSError, ValueError) as exc:
        raise BatchError(Problem(str(path), "", f"is not a run record bmdkb batch wrote ({exc}); run without "
                                 "--resume to start over")) from None
    _check_same_run(output, path.name, written.get("mode"), written.get("knowledge_base", {}).get("digest"),
                    kb, record["mode"])
    if written.get("facility") != record.get("facility"):
        raise BatchError(Problem(str(output), path.name, "was written with another --facility file (or none); "
                                 "run without --resume to start over"))
    if written.get("output_format", "full") != record.get("output_format", "full"):
        raise BatchError(Problem(str(output), path.name, f"was written as {written.get('output_format', 'full')} "
                                 f"output, not {record.get('output_format', 'full')}; run without --resume to "
                                 "start over"))
    if written.get("ledger_head") != record["ledger_head"]:
        raise BatchError(Problem(str(output), path.name, "was written when the review ledger ended at "
                                 f"{written.get('ledger_head')}, not at {record['ledger_head']}: rule statuses "
                                 "differ; run without --resume to start over"))


def _check_continues(output: Path, last: dict | None, kb, input_path, display: str, done: int) -> None:
    """The output's last line must be the input's case number ``done`` (same case_id), else
    resuming would splice two inputs."""
    if last is None:
        return
    previous = next(read_items(input_path, display, skip=done - 1), None)
    if previous is None:
        raise BatchError(Problem(str(output), "", f"holds {done} cases but the input has fewer; "
                                 "run without --resume to start over"))
    try:
        case = _parse(previous)
        input_id = case.get("case_id") if isinstance(case, dict) else None
    except CaseError:
        input_id = None
    written_id = last.get("case_id")
    if written_id is not None and input_id is not None and written_id != input_id:
        raise BatchError(Problem(str(output), f"line {done}", f"is case {written_id!r} but input case {done} is "
                                 f"{input_id!r}: the output is not from this input; run without --resume"))


def _write_json(path: Path, document: dict) -> None:
    """Write a small JSON file atomically (a temporary file, then rename)."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise BatchError(Problem(str(path), "", f"cannot be written: {_why(exc)}")) from None


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full ({exc.strerror or os.strerror(exc.errno)})"
    return exc.strerror or str(exc)


def _write(fd: int, data: bytes) -> None:
    """Write all of ``data`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------- the run

def _chunks(items, size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Ordered:
    """A bounded window of submitted chunks, handed back in submission order."""

    def __init__(self, submit, result, window: int):
        self.submit, self.result, self.window = submit, result, window

    def run(self, chunks):
        pending = collections.deque()
        for chunk in chunks:
            pending.append(self.submit(chunk))
            if len(pending) >= self.window:
                yield self.result(pending.popleft())
        while pending:
            yield self.result(pending.popleft())


def run(kb, input_path, output, *, workers: int | None = None, resume: bool = False, approved_only: bool = False,
        dask_address: str | None = None, progress=None, input_display: str | None = None,
        chunk_size: int = CHUNK, now: dt.datetime | None = None, today: dt.date | None = None,
        facility: dict | None = None, facility_file: str = "--facility",
        engine: str = "durable", output_format: str = "full") -> dict:
    """Evaluate every case of ``input_path`` into ``output``; return the summary (also written next to it).

    ``progress(n)`` is called with the number of cases done after each chunk.
    """
    input_path, output = Path(input_path), Path(output)
    display = input_display or str(input_path)
    if not input_path.exists():
        raise BatchError(Problem(display, "", "no such file or folder"))
    if output_format not in registry.FORMATS:
        raise BatchError(Problem("--output-format", "", f"unknown format {output_format!r}"))
    check_paths(input_path, output, display, folder_output=output_format == "parquet")
    settings = Settings(governance.clock(now), today or dt.date.today(), approved_only, facility, facility_file,
                        engine, output_format)
    record = run_record(kb, settings, display)
    summary = Summary(headline=kb.headline_kind)
    if output_format == "parquet":
        return _run_parquet(kb, settings, record, summary, input_path, output, display, resume,
                            (workers, dask_address, progress, chunk_size))
    done = 0
    if resume:
        done, last, any_result = _resume_point(output, kb, summary, record["mode"], output_format)
        _check_record(output, record, kb, done, any_result)
        _check_continues(output, last, kb, input_path, display, done)
    if not resume or not run_path(output).exists():
        _write_json(run_path(output), record)
    if progress and done:
        progress(done)
    items = read_items(input_path, display, skip=done)
    chunks = _chunks(items, chunk_size)
    try:
        fd = os.open(output, os.O_RDWR | os.O_CREAT | (0 if resume else os.O_TRUNC), 0o644)
    except OSError as exc:
        raise BatchError(Problem(str(output), "", f"cannot be written: {_why(exc)}")) from None
    try:
        complete = _last_complete_line(fd) if resume else 0
        os.lseek(fd, complete, os.SEEK_SET)
        with contextlib.closing(_results(kb, settings, chunks, workers, dask_address)) as results_stream:
            for results in results_stream:
                data = "".join(line + "\n" for line, _ in results).encode("utf-8")
                try:
                    _write(fd, data)
                except OSError as exc:
                    _cut_back(fd, complete)
                    raise BatchError(Problem(str(output), "", f"cannot be written: {_why(exc)}; it holds the first "
                                             f"{summary.cases} cases, each on a complete line: make room and run "
                                             "again with --resume")) from None
                complete += len(data)
                for _, info in results:
                    summary.add(info)
                if progress:
                    progress(len(results))
    finally:
        os.close(fd)
    document = summary.to_dict(kb, settings, display)
    _write_json(summary_path(output), document)
    return document


def _run_parquet(kb, settings: Settings, record: dict, summary: Summary, input_path: Path, output: Path,
                 display: str, resume: bool, how: tuple) -> dict:
    """``run`` for Parquet output: rows into part files (registry.ParquetParts); --resume counts the
    complete parts, checks them against the run record and the input, and goes on from there."""
    workers, dask_address, progress, chunk_size = how
    parts = registry.ParquetParts(output, resume)
    done = 0
    if resume:
        last = None
        for index, case_id, codes, patterns, withheld, error in parts.read_back():
            if error is not None:
                summary.add(registry.error_line_info(error))
            else:
                summary.add(("ok", tuple(patterns), tuple(codes),
                             tuple(c for c in withheld if kb.rules_concluding(c)[0].kind == kb.headline_kind)))
            last = {"case_id": case_id} if case_id is not None else {}
        done = summary.cases
        _check_record(output, record, kb, done, True)
        _check_continues(output, last, kb, input_path, display, done)
    if not resume or not run_path(output).exists():
        _write_json(run_path(output), record)
    if progress and done:
        progress(done)
    chunks = _chunks(read_items(input_path, display, skip=done), chunk_size)
    try:
        with contextlib.closing(_results(kb, settings, chunks, workers, dask_address)) as results_stream:
            for results in results_stream:
                for rows, info in results:
                    parts.add(rows)
                    summary.add(info)
                if progress:
                    progress(len(results))
    except KeyboardInterrupt:
        parts.flush()   # the cases done so far stay: --resume continues after them
        raise
    except registry.RegistryOutputError as exc:
        raise BatchError(exc.problems) from None
    parts.flush()
    document = summary.to_dict(kb, settings, display)
    _write_json(summary_path(output), document)
    return document


def _last_complete_line(fd: int) -> int:
    """Size of ``fd``'s content up to its last newline; a torn tail after it is cut off."""
    size = os.fstat(fd).st_size
    position = size
    while position > 0:
        step = min(65536, position)
        os.lseek(fd, position - step, os.SEEK_SET)
        block = os.read(fd, step)
        newline = block.rfind(b"\n")
        if newline >= 0:
            position = position - step + newline + 1
            break
        position -= step
    if position != size:
        _cut_back(fd, position)
    return position


def _cut_back(fd: int, size: int) -> None:
    with contextlib.suppress(OSError):  # a device (/dev/full) cannot be truncated: nothing to cut
        os.ftruncate(fd, size)


def _results(kb, settings: Settings, chunks, workers: int | None, dask_address: str | None):
    if dask_address:
        yield from _dask_results(kb, settings, chunks, dask_address)
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for chunk in chunks:
            yield evaluate_chunk(kb, settings, chunk)
        return
    # fork shares the loaded knowledge base without pickling it; spawn where fork does not exist
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=_init_worker, initargs=(kb, settings, os.getpid()))
    try:
        ordered = _Ordered(lambda chunk: (chunk[0].index, pool.submit(_run_chunk, chunk)), _local_result,
                           workers * 3)
        yield from ordered.run(chunks)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _local_result(submitted) -> list:
    first, future = submitted
    try:
        return future.result()
    except BrokenProcessPool:
        raise WorkerDied(Problem("", "", f"a worker process died while evaluating the cases from case {first} on "
                                 "(a defect); the output holds every case before them: --resume continues")) from None


# glibc mallopt parameters, and the values a Dask worker gets for the run (see tune_dask_worker)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
DASK_TRIM_THRESHOLD = 128 * 2**20
DASK_MMAP_THRESHOLD = 32 * 2**20


def tune_dask_worker(dask_worker=None) -> dict:
    """Remove the two costs a Dask worker adds to evaluation (about 30% measured inside a worker):
    its statistical profiler (sampling every thread's stack every 10 ms, here stopped) and
    the nanny's ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc hand memory back to the system
    on nearly every free and turns off its adaptive mmap threshold (here raised again with
    mallopt). Run on every worker when ``batch --dask`` connects; returns what it changed."""
    changed = {}
    for name in ("profile", "profile-cycle"):
        callback = getattr(dask_worker, "periodic_callbacks", {}).get(name)
        if callback is not None:
            callback.stop()
            changed[name] = "stopped"
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None)
            changed["trim_threshold"] = bool(libc.mallopt(_M_TRIM_THRESHOLD, DASK_TRIM_THRESHOLD))
            changed["mmap_threshold"] = bool(libc.mallopt(_M_MMAP_THRESHOLD, DASK_MMAP_THRESHOLD))
        except (OSError, AttributeError):   # not glibc: nothing to tune
            pass
    return changed


def _dask_results(kb, settings: Settings, chunks, address: str):
    try:
        from dask.distributed import Client
    except ImportError:
        raise BatchError(Problem("--dask", "", "needs dask.distributed: pip install 'bmdkb[dask]'")) from None
    try:
        client = Client(address, timeout="10s")
    except OSError as exc:
        raise BatchError(Problem("--dask", "", f"cannot reach the Dask scheduler at {address}: {exc}")) from None
    try:
        client.run(tune_dask_worker)
        threads = sum(client.nthreads().values()) or 1
        kb_future = client.scatter(kb, broadcast=True, hash=False)
        ordered = _Ordered(lambda chunk: client.submit(evaluate_chunk, kb_future, settings, chunk, pure=False),
                           lambda future: future.result(), threads * 3)
        yield from ordered.run(chunks)
    finally:
        client.close()
