"""`bmdkb diff OLD NEW`: what changed between two knowledge bases, as text and as behaviour.

Each side is a knowledge-base root (a folder holding knowledge/ and provenance/)
or a git revision of a repository whose root is a knowledge-base root. The
content diff lists rules added, removed and changed field by field (dotted paths
into the rule's YAML), and parameters and cited facts likewise. The behavioural
diff evaluates the union of both sides' rule-test cases under both knowledge
bases and lists the cases whose conclusions (code and support) differ. A case
defined on both sides is taken from NEW, so both evaluations see the same input.

API::

    open_side(spec, repo) -> context manager yielding (root, label)
    diff(old_root, new_root, old_label="OLD", new_label="NEW") -> KbDiff
    field_changes(old, new) -> [(path, old value, new value)]   MISSING marks an absent side
"""
from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bmdkb.engine import adapters
from bmdkb.engine.kb.identity import DIFF_KEYS, identity
from bmdkb.engine.common.errors import BmdkbError, KnowledgeBaseError, Problem
from bmdkb.engine.kb.knowledge_base import load
from bmdkb.engine.authoring import rule_tests
from bmdkb.engine.run.evaluate import Evaluator


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING = _Missing()


class DiffError(BmdkbError):
    """A side of a diff that is neither a knowledge-base root nor a usable git revision (exit 2)."""


@dataclass
class CaseChange:
    """A test case whose conclusions differ between OLD and NEW: (code, support) removed and added."""

    key: str
    file: str
    name: str
    added: list       # [(code, support)] concluded under NEW only
    removed: list     # [(code, support)] concluded under OLD only


@dataclass
class KbDiff:
    """Two knowledge bases compared: rules added, removed and changed field by field, other content
    changed, and the test cases that conclude differently."""

    old: dict                  # {label, release, digest}
    new: dict
    added: list                # rule ids
    removed: list
    changed: dict              # rule id -> {"version": (old, new), "fields": [(path, old, new)]}
    other: dict                # "parameter <id>" / "fact <id>" / "treatment classes" -> [(path, old, new)]
    behaviour: list            # [CaseChange]
    cases_compared: int = 0

    @property
    def empty(self) -> bool:
        """Nothing differs."""
        return not (self.added or self.removed or self.changed or self.other or self.behaviour)

    def to_dict(self) -> dict:
        """The `diff --format json` document."""
        def change(path, old, new):
            out = {"field": path}
            if old is not MISSING:
                out["old"] = old
            if new is not MISSING:
                out["new"] = new
            return out

        return {
            "old": self.old, "new": self.new,
            "rules": {
                "added": self.added, "removed": self.removed,
                "changed": [{"id": rule_id, "version": list(c["version"]),
                             "fields": [change(*f) for f in c["fields"]]} for rule_id, c in self.changed.items()],
            },
            "other": [{"item": item, "fields": [change(*f) for f in fields]} for item, fields in self.other.items()],
            "behaviour": {
                "cases_compared": self.cases_compared,
                "changed": [{"case": c.key, "added": [{"code": k, "support": s} for k, s in c.added],
                             "removed": [{"code": k, "support": s} for k, s in c.removed]} for c in self.behaviour],
            },
        }


# ---------------------------------------------------------------- sides


@contextlib.contextmanager
def open_side(spec: str, repo, role: str = "OLD"):
    """Yield (root, label) for a knowledge-base root, or a git revision extracted to a temporary folder."""
    path = Path(spec)
    if path.is_dir():
        if not (path / "knowledge").is_dir():
            raise DiffError(Problem(spec, "", f"{role} is a folder but not a knowledge-base root (no knowledge/ folder)"))
        yield path, spec
        return
    repo = Path(repo)
    sha = _git(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
    if sha is None:
        raise DiffError(Problem(spec, "", f"{role} is neither a knowledge-base root nor a git revision of {repo}"))
    sha = sha.decode().strip()
    archive = _git(repo, "archive", "--format=tar", sha, "--", "knowledge", "provenance")
    if archive is None:
        raise DiffError(Problem(spec, "", f"revision {sha[:12]} has no knowledge/ and provenance/ folders"))
    with tempfile.TemporaryDirectory(prefix="bmdkb-diff-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp), f"{spec} ({sha[:12]})"


def _git(repo: Path, *args) -> bytes | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


# ---------------------------------------------------------------- content


def flatten(value, prefix: str = "") -> dict:
    """Dotted paths to leaves; a list of scalars is one leaf, other lists are indexed."""
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def field_changes(old: dict, new: dict) -> list[tuple]:
    """(field path, old value, new value) of every leaf that differs (MISSING where absent)."""
    a, b = flatten(old), flatten(new)
    return [(path, a.get(path, MISSING), b.get(path, MISSING))
            for path in sorted(set(a) | set(b), key=_path_order(list(a) + list(b)))
            if a.get(path, MISSING) != b.get(path, MISSING)]


def _path_order(paths: list):
    first_seen = {}
    for p in paths:
        first_seen.setdefault(p, len(first_seen))
    return lambda p: first_seen[p]


def _content(old_kb, new_kb) -> tuple[list, list, dict, dict]:
    added = sorted(set(new_kb.rules) - set(old_kb.rules))
    removed = sorted(set(old_kb.rules) - set(new_kb.rules))
    changed = {}
    for rule_id in sorted(set(old_kb.rules) & set(new_kb.rules)):
        o, n = old_kb.rules[rule_id], new_kb.rules[rule_id]
        fields = field_changes(o.data, n.data)
        if fields or o.digest != n.digest:
            changed[rule_id] = {"version": (o.version, n.version), "fields": fields}
    other = {}
    for label, old_items, new_items in (("parameter", old_kb.parameters, new_kb.parameters),
                                        ("fact", old_kb.facts, new_kb.facts)):
        for item_id in sorted(set(old_items) | set(new_items)):
            fields = field_changes(old_items.get(item_id, {}), new_items.get(item_id, {}))
            if fields:
                other[f"{label} {item_id}"] = fields
    for spec in adapters.for_kb(new_kb).data_files:   # the domain's own tables (treatment classes)
        changes = field_changes(old_kb.domain_data.get(spec.key, {}), new_kb.domain_data.get(spec.key, {}))
        if changes:
            other[spec.label] = changes
    return added, removed, changed, other


# ---------------------------------------------------------------- behaviour


def _tests(root, kb, label):
    try:
        return rule_tests.load_test_files(root, kb=kb)
    except KnowledgeBaseError as exc:
        raise KnowledgeBaseError([Problem(f"{label}: {p.file}", p.field, p.message) for p in exc.problems]) from None


def _behaviour(old_kb, new_kb, old_files, new_files) -> tuple[list, int]:
    cases = {}
    for test_file in old_files + new_files:   # NEW's definition of a shared case wins
        for test in test_file.cases:
            if test.skip is None:
                cases[test.key] = test
    old_eval, new_eval = Evaluator(old_kb, now=rule_tests.TEST_NOW), Evaluator(new_kb, now=rule_tests.TEST_NOW)
    changes = []
    for key in sorted(cases):
        test = cases[key]
        before = _concluded(old_eval, test)
        after = _concluded(new_eval, test)
        if before != after:
            changes.append(CaseChange(key, test.file, test.name, sorted(after - before), sorted(before - after)))
    return changes, len(cases)


def _concluded(evaluator, test) -> set:
    result = evaluator.evaluate(test.case, test.label, today=rule_tests.TEST_TODAY).document
    return {(c.code, c.support) for c in result.conclusions}


def diff(old_root, new_root, old_label: str = "OLD", new_label: str = "NEW") -> KbDiff:
    """Compare the knowledge bases at two roots: content and the behaviour of the rule tests of both."""
    old_kb, new_kb = _load(old_root, old_label), _load(new_root, new_label)
    added, removed, changed, other = _content(old_kb, new_kb)
    behaviour, compared = _behaviour(old_kb, new_kb, _tests(old_root, old_kb, old_label), _tests(new_root, new_kb, new_label))
    return KbDiff({"label": old_label, **identity(old_kb, DIFF_KEYS)}, {"label": new_label, **identity(new_kb, DIFF_KEYS)},
                  added, removed, changed, other, behaviour, compared)


def _load(root, label):
    try:
        return load(root)
    except KnowledgeBaseError as exc:
        raise KnowledgeBaseError([Problem(f"{label}: {p.file}", p.field, p.message) for p in exc.problems]) from None


def diff_sides(old: str, new: str, repo) -> KbDiff:
    """Compare sides OLD and NEW, each a knowledge-base root or a git revision of ``repo``."""
    with open_side(old, repo, "OLD") as (old_root, old_label), open_side(new, repo, "NEW") as (new_root, new_label):
        return diff(old_root, new_root, old_label, new_label)
