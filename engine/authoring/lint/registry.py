"""Findings and the register of checks: each check has a stable id and one severity."""
from __future__ import annotations

from dataclasses import dataclass, field as _field
from typing import Callable, Iterable

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One finding: a check's id and severity, the file and field it is about, what it says.

    ``line`` and ``column`` (1-based) are where the field is written, when the reading knows
    (problems the reader records, engine/kb/marks.py); like a Problem's, they are not part of
    equality or of the text line."""

    check: str
    severity: str
    file: str
    field: str
    message: str
    line: int | None = _field(default=None, compare=False)
    column: int | None = _field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.severity} [{self.check}] {self.message}"

    def to_dict(self) -> dict:
        """The finding as lint --format json lists it; ``line`` and ``column`` only when known."""
        out = {"check": self.check, "severity": self.severity, "file": self.file,
               "field": self.field, "message": self.message}
        if self.line is not None:
            out.update(line=self.line, column=self.column)
        return out


@dataclass(frozen=True)
class Check:
    """One registered lint check: its id, severity, one-line summary and the function that finds its problems."""

    id: str
    severity: str
    summary: str
    run: Callable   # (draft) -> iterable of (file, field, message) or of Problem


CHECKS: dict[str, Check] = {}


def check(check_id: str, severity: str, summary: str):
    """Register a check: a function of the draft yielding (file, field, message), or Problems
    (which may say the line and column)."""
    assert severity in SEVERITIES and check_id not in CHECKS

    def register(func: Callable[..., Iterable[tuple[str, str, str]]]):
        CHECKS[check_id] = Check(check_id, severity, summary, func)
        return func

    return register


def found_while_reading(check_id: str):
    """A check that reports the problems the tolerant reader recorded under ``check_id``
    (as they are: with their line and column, where known)."""
    def run(draft):
        for found_id, problem in draft.found:
            if found_id == check_id:
                yield problem
    return run
