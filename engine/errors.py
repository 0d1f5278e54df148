"""Errors a user can act on. Each names the file and the field it is about."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in one file, at one field path (``scans[1].sites.total_hip``)."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"


class BmdkbError(Exception):
    """Base of errors reported to the user rather than as a program defect."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, Problem):
            problems = [problems]
        elif isinstance(problems, str):
            problems = [Problem("", "", problems)]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CaseError(BmdkbError):
    """A patient case that cannot be evaluated (bad input: exit 2)."""


class KnowledgeBaseError(BmdkbError):
    """A knowledge base that does not load or validate (exit 2)."""


class RuleActionError(BmdkbError):
    """A rule's action failed while a case was evaluated: a defect, exit 1."""

    exit_code = 1
