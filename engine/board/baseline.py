"""What changed since the version last approved: find, in the knowledge base's git history, the
revision whose copy of the rule has the digest the board approved, and compare that revision
with the knowledge base as it is now, as `bmdkb diff` does (engine/authoring/diff.py).

The ledger keeps the approved digest, not the approved text; git keeps the text. The newest
``LIMIT`` commits touching knowledge/ or provenance/ are searched, newest first (the working tree
itself when nothing changed). Digests per revision and each diff are kept for the server's life:
a revision never changes, and the diff is keyed by the current knowledge base's digest too.
"""
from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from bmdkb.engine.authoring import diff as kbdiff
from bmdkb.engine.common.errors import BmdkbError
from bmdkb.engine.kb import knowledge_base

LIMIT = 50
_digests: dict = {}        # (repo, revision) -> {rule id: digest}, or None when it does not load
_diffs: dict = {}          # (repo, revision, current kb digest) -> KbDiff
_lock = threading.Lock()


@dataclass
class Baseline:
    """The approved version a rule page compares with: where it was found, and the diff, or why not."""

    approved: dict | None         # governance.last_approved
    revision: str | None = None   # a git commit (None: the current content is the approved one, or not found)
    label: str | None = None
    diff: kbdiff.KbDiff | None = None
    reason: str | None = None     # why there is nothing to compare


def _git(root: Path, *args) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _repository(root: Path) -> Path | None:
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or os.path.realpath(top.strip()) != os.path.realpath(root):
        return None
    return Path(os.path.realpath(root))


def _digests_at(repo: Path, revision: str) -> dict | None:
    key = (str(repo), revision)
    with _lock:
        if key in _digests:
            return _digests[key]
    try:
        with kbdiff.open_side(revision, repo) as (side, _label):
            kb = knowledge_base.load(side)
            found = {rule_id: rule.digest for rule_id, rule in kb.rules.items()}
    except BmdkbError:
        found = None
    with _lock:
        _digests[key] = found
    return found


def revision_with(repo: Path, rule_id: str, digest: str, limit: int = LIMIT) -> str | None:
    """The newest commit (of the last ``limit`` touching the knowledge base) where ``rule_id`` has ``digest``."""
    log = _git(repo, "log", f"-n{limit}", "--format=%H", "--", "knowledge", "provenance")
    for revision in (log or "").split():
        digests = _digests_at(repo, revision)
        if digests is not None and digests.get(rule_id) == digest:
            return revision
    return None


def since_approved(kb, rule_id: str, approved: dict | None) -> Baseline:
    """The diff between the version of ``rule_id`` last approved and the knowledge base now."""
    if approved is None:
        return Baseline(None, reason="The board has never approved this rule, so there is no approved version to "
                                     "compare with: all of it is for review.")
    rule = kb.rules[rule_id]
    if approved["digest"] == rule.digest:
        return Baseline(approved, reason="The rule's content is the content the board approved (its digest is "
                                         "unchanged).")
    repo = _repository(Path(kb.root))
    if repo is None:
        return Baseline(approved, reason="The knowledge base is not the root of a git repository, so the approved "
                                         "text cannot be recovered (the ledger keeps only its digest).")
    revision = revision_with(repo, rule_id, approved["digest"])
    if revision is None:
        return Baseline(approved, reason=f"No commit among the last {LIMIT} that touch the knowledge base holds the "
                                         f"approved content (digest {approved['digest'][:19]}…).")
    key = (str(repo), revision, kb.digest)
    with _lock:
        cached = _diffs.get(key)
    if cached is None:
        with kbdiff.open_side(revision, repo) as (old_root, _label):
            cached = kbdiff.diff(old_root, kb.root, f"approved version (commit {revision[:12]})", "now")
        with _lock:
            _diffs[key] = cached
    return Baseline(approved, revision, cached.old["label"], cached)
