"""Findings and the register of checks: each check has a stable id and one severity."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.severity} [{self.check}] {self.message}"

    def to_dict(self) -> dict:
        return {"check": self.check, "severity": self.severity, "file": self.file,
                "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    summary: str
    run: Callable   # (draft) -> iterable of (file, field, message)


CHECKS: dict[str, Check] = {}


def check(check_id: str, severity: str, summary: str):
    """Register a check: a function of the draft yielding (file, field, message)."""
    assert severity in SEVERITIES and check_id not in CHECKS

    def register(func: Callable[..., Iterable[tuple[str, str, str]]]):
        CHECKS[check_id] = Check(check_id, severity, summary, func)
        return func

    return register


def found_while_reading(check_id: str):
    """The findings the tolerant reader recorded under ``check_id``."""
    def run(draft):
        for found_id, problem in draft.found:
            if found_id == check_id:
                yield problem.file, problem.field, problem.message
    return run
