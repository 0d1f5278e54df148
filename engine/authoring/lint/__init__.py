"""`bmdkb lint`: findings on a knowledge base, each with a stable check id, a
severity, the file and the field, the way linters of rule languages report.

API::

    lint(root, contract=None) -> list[Finding]     every finding, sorted by file, field, check
    CHECKS                                         check id -> Check(id, severity, summary, run)
    failing(findings, fail_on="error") -> list     the findings at or above ``fail_on``

Works on a knowledge base that does not load: the tolerant reader shared with
``knowledge_base.load`` (engine/kb/reader.py, through draft.py) records each problem once,
with its check id; the checks of structure.py report those, the other checks run on the
rest, and load-error reports what load would refuse that no error explains: taken from the
same reading, so the knowledge base is read once.
"""
from __future__ import annotations

from pathlib import Path

from bmdkb.engine.common.errors import Problem
from bmdkb.engine.authoring.lint import chain  # noqa: F401 - they register checks
from bmdkb.engine.authoring.lint import citations  # noqa: F401 - they register checks
from bmdkb.engine.authoring.lint import content  # noqa: F401 - they register checks
from bmdkb.engine.authoring.lint import contract as contract_checks  # noqa: F401 - they register checks
from bmdkb.engine.authoring.lint import structure  # noqa: F401 - they register checks
from bmdkb.engine.authoring.lint import testing  # noqa: F401 - they register checks
from bmdkb.engine.authoring.lint.draft import read
from bmdkb.engine.authoring.lint.registry import CHECKS, SEVERITIES, Finding

__all__ = ["CHECKS", "SEVERITIES", "Finding", "failing", "lint"]


def lint(root, contract: list[dict] | None = None) -> list[Finding]:
    """Run every check on the knowledge base at ``root``.

    ``contract`` replaces the contract's code list (schemas/conclusion-codes.json),
    for knowledge bases that promise other codes (tests use small ones)."""
    root = Path(root)
    draft = read(root, contract if contract is not None else contract_checks.contract_codes())
    findings = []
    for check in CHECKS.values():
        if check.id == "load-error":
            continue
        for item in check.run(draft):
            findings.append(_finding(check, item))
    findings.extend(_load_errors(draft, findings))
    return sorted(set(findings), key=lambda f: (f.file, f.field, SEVERITIES.index(f.severity), f.check, f.message))


def _load_errors(draft, findings: list[Finding]) -> list[Finding]:
    """Safety net: whenever evaluate would refuse the knowledge base, lint reports an error.
    A refusal not already explained by an error on the same file is reported as load-error.
    The refusals are the reading's own (``Reading.refusal``: what ``load`` raises), not a second load."""
    refusal = draft.refusal()
    if refusal is None:
        return []
    problems = refusal.problems
    files_with_errors = {f.file for f in findings if f.severity == "error"}
    check = CHECKS["load-error"]
    out = []
    for p in problems:
        if any(f == p.file or f.startswith(p.file.rstrip("/") + "/") for f in files_with_errors):
            continue
        out.append(_finding(check, p))
    if not out and not files_with_errors:  # never let a refused knowledge base lint clean
        out = [_finding(check, p) for p in problems]
    return out


def _finding(check, item) -> Finding:
    """A check's yield, a (file, field, message) or a Problem (which may say where), as a Finding."""
    if isinstance(item, Problem):
        return Finding(check.id, check.severity, item.file, item.field, item.message, item.line, item.column)
    file, field, message = item
    return Finding(check.id, check.severity, file, field, message)


def failing(findings: list[Finding], fail_on: str = "error") -> list[Finding]:
    """The findings of severity ``fail_on`` or worse (those that make lint fail)."""
    limit = SEVERITIES.index(fail_on)
    return [f for f in findings if SEVERITIES.index(f.severity) <= limit]
