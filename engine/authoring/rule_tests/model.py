"""The records of rule testing: test files and cases, outcomes, per-rule tallies, coverage.

Named ``RuleTest*`` rather than ``Test*`` so pytest does not take them for test classes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

# Cases are evaluated on a fixed day so a test's outcome never depends on the clock
# (only the "scan dated in the future" check reads today). Case dates must precede it.
TEST_TODAY = dt.date(2030, 1, 1)
TEST_NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
SUFFIX = ".test.yaml"


# ---------------------------------------------------------------- data


@dataclass
class RuleTestCase:
    """One case of a test file: the input case it derives and what it expects."""

    file: str           # the test file, relative to the KB root when inside it
    rule: str           # the rule whose test file holds this case
    index: int          # position in the file's `cases`
    name: str
    spec: dict          # the case entry as written
    case: dict          # the derived input case
    expect: dict
    skip: str | None = None

    @property
    def key(self) -> str:
        """Stable identity of the case across knowledge-base versions."""
        return f"{self.file}::{self.name}"

    @property
    def label(self) -> str:
        """How reports name the case: file, index and name."""
        return f"{self.file} cases[{self.index}] ({self.name})"


@dataclass
class RuleTestFile:
    """A test file: the rule it tests and its derived cases."""

    path: Path
    file: str
    rule: str
    cases: list


@dataclass
class Failure:
    """One unmet expectation of a case."""

    kind: str           # missing | unexpected | support | because | engines (two rule engines disagree)
    code: str
    message: str


@dataclass
class CaseOutcome:
    """What one case concluded and which of its expectations failed."""

    test: RuleTestCase
    evaluation: object = None          # evaluate.Evaluation; None when skipped
    conclusions: dict = field(default_factory=dict)   # code -> support
    fired: set = field(default_factory=set)           # rule ids in Evaluation.firings
    failures: list = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        """Whether the case is marked ``skip`` (and so was not evaluated)."""
        return self.test.skip is not None

    @property
    def passed(self) -> bool:
        """Evaluated, with every expectation met."""
        return not self.skipped and not self.failures


@dataclass
class RuleResult:
    """One rule's tally across the run: its own cases' results and where it fired."""

    rule: str
    as_expected: list = field(default_factory=list)   # names of own cases that passed
    missed: list = field(default_factory=list)        # own cases where an expected code, support or because was missing
    unexpected: list = field(default_factory=list)    # own cases where a code expected absent was concluded
    fired_in: list = field(default_factory=list)      # keys of all cases where the rule fired
    absent_in: list = field(default_factory=list)     # keys of all cases where it did not
    has_tests: bool = False

    @property
    def covered(self) -> bool:
        """Fired in at least one case and absent in at least one."""
        return bool(self.fired_in) and bool(self.absent_in)


@dataclass
class Coverage:
    """The rules covered and not covered by a run."""

    covered: list
    uncovered: list

    @property
    def total(self) -> int:
        """Rules counted."""
        return len(self.covered) + len(self.uncovered)

    @property
    def percent(self) -> float:
        """Share of the rules counted that are covered (100 when none are counted)."""
        return 100.0 if not self.total else 100.0 * len(self.covered) / self.total


@dataclass
class RuleTestRun:
    """Every case outcome of a run and the per-rule tally."""

    outcomes: list
    rules: dict

    def coverage(self) -> Coverage:
        """Which rules of the tally are covered."""
        covered = [r for r, res in self.rules.items() if res.covered]
        return Coverage(covered, [r for r, res in self.rules.items() if not res.covered])

    @property
    def failed(self) -> list:
        """Outcomes with at least one failure."""
        return [o for o in self.outcomes if o.failures]

    def ok(self, threshold: float | None = None) -> bool:
        """No case failed and, with ``threshold``, coverage (percent) reaches it."""
        if self.failed:
            return False
        return threshold is None or self.coverage().percent >= threshold
