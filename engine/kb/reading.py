"""What one tolerant reading of a knowledge-base root holds (engine/kb/reader.py reads it):
the possibly partial knowledge base, the citations as written, and the one stream of
problems found, each recorded once as a ``Noted`` for the readers it concerns: load refuses
``Reading.refused`` (``Reading.refusal()`` is the error it raises), lint reports
``Reading.found`` under each problem's code.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from bmdkb.engine.common.errors import KnowledgeBaseError, Problem
from bmdkb.engine.kb.model import Citation, KnowledgeBase


@dataclass
class CitationSite:
    """One citation as written, where it is, and what it backs."""

    file: str
    field: str           # e.g. citations[1] or parameters[0].provenance.citations[0]
    raw: dict
    owner: str           # rule id, parameter id, fact id or file

    @property
    def citation(self) -> Citation:
        """The citation as a record."""
        return Citation.from_dict(self.raw)


@dataclass(frozen=True)
class Noted:
    """One problem the reading found, recorded once.

    ``problem`` is worded as lint reports it, its ``code`` the lint check id. ``reported``:
    lint reports it under that check (when False, lint's own check on the reading says it, or
    lint's load-error does). ``refuses``: load refuses the knowledge base for it, in the words
    ``refusal`` where load's differ from lint's."""

    problem: Problem
    reported: bool = True
    refuses: bool = True
    refusal: str | None = None

    @property
    def refused(self) -> Problem:
        """The problem as load states it."""
        return replace(self.problem, message=self.refusal) if self.refusal is not None else self.problem


@dataclass
class Reading:
    """What one tolerant reading of a root found: the (possibly partial) knowledge base and its problems."""

    root: Path
    kb: KnowledgeBase | None = None
    problems: list = field(default_factory=list)         # Noted, in the order found
    documents: dict = field(default_factory=dict)        # relative path -> parsed, valid document
    citations: list = field(default_factory=list)        # CitationSite, as lint checks them
    parameter_files: dict = field(default_factory=dict)  # parameter id -> (file, index)
    data_files: tuple = ()                               # the adapter's DataFile entries (engine/adapters)

    @property
    def found(self) -> list[tuple[str, Problem]]:
        """(lint check id, Problem) for each problem lint reports from the reading."""
        return [(n.problem.code, n.problem) for n in self.problems if n.reported]

    @property
    def refused(self) -> list[Problem]:
        """Why load refuses the knowledge base, in the order it lists them (empty: it loads)."""
        return [n.refused for n in self.problems if n.refuses]

    def refusal(self):
        """The KnowledgeBaseError load raises for this reading (its list bounded as every error's
        is), or None when the knowledge base loads."""
        refused = self.refused
        return KnowledgeBaseError(refused) if refused else None

    def note(self, code: str, file: str, field_: str, message: str, *, reported: bool = True,
             refuses: bool = True, refusal: str | None = None) -> None:
        """Record a problem under lint check ``code``: reported by lint unless ``reported`` is
        False, refused by load unless ``refuses`` is False (in the words ``refusal``, if given)."""
        self.problems.append(Noted(Problem(file, field_, message, code=code), reported, refuses, refusal))

    def add(self, check: str, file: str, field_: str, message: str, refusal: str | None = None) -> None:
        """A problem lint reports under ``check`` and load refuses (in the words ``refusal``, if given)."""
        self.note(check, file, field_, message, refusal=refusal)

    def add_problems(self, check: str, problems: list[Problem]) -> None:
        """Problems an error raised (a file that does not parse or validate): lint's and load's alike."""
        self.problems.extend(Noted(replace(p, code=check)) for p in problems)
