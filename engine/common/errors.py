"""Errors a user can act on. Each names the file and the field it is about."""
from __future__ import annotations

import re
from dataclasses import dataclass, field as _field

from bmdkb.engine.common.limits import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, MAX_PROBLEMS, clip


# What str.splitlines() breaks a line at, and other control characters: written escaped, so one
# problem is always one line of output (a key holding "\r" once split a message in two).
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def _one_line(text: str) -> str:
    text = str(text)
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


@dataclass(frozen=True)
class Problem:
    """One problem in one file, at one field path (``scans[1].sites.total_hip``).

    ``code`` is a stable name for the kind of problem: for a knowledge-base problem, the id of the
    lint check that reports it (``schema``, ``duplicate-id``, ``quote-not-found``...), ``""`` where
    none was given. ``line`` and ``column`` (1-based) say where in the file the field is, when known.
    None of the three is part of the message or of equality: two problems saying the same thing
    about the same field are the same problem, and every output worded from ``str()`` is unchanged.
    """

    file: str
    field: str
    message: str
    code: str = _field(default="", compare=False)
    line: int | None = _field(default=None, compare=False)
    column: int | None = _field(default=None, compare=False)

    def __post_init__(self):
        # Bounded whatever a value quoted in it holds (one bad input once made a 15 MB message).
        object.__setattr__(self, "message", clip(_one_line(self.message), MAX_MESSAGE_CHARS))
        object.__setattr__(self, "field", clip(_one_line(self.field), MAX_FIELD_CHARS))
        object.__setattr__(self, "file", clip(_one_line(self.file), MAX_FIELD_CHARS))

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
        problems = list(problems)
        if len(problems) > MAX_PROBLEMS:   # the first ones, and how many more
            rest = len(problems) - MAX_PROBLEMS
            problems = problems[:MAX_PROBLEMS] + [Problem(problems[MAX_PROBLEMS].file, "",
                                                          f"... and {rest} more problems")]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in self.problems))


class CaseError(BmdkbError):
    """A patient case that cannot be evaluated (bad input: exit 2)."""


class KnowledgeBaseError(BmdkbError):
    """A knowledge base that does not load or validate (exit 2)."""


class RuleActionError(BmdkbError):
    """A rule's action failed while a case was evaluated: a defect, exit 1."""

    exit_code = 1
