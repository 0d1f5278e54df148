"""Releases: a manifest pinning every content file by digest, and a changelog entry.

The manifest lives at knowledge/release-manifest.yaml, next to kb.yaml and the
changelog: it ships with the content it pins (the package data includes
knowledge/**/*.yaml), and knowledge_base.load never reads it, so it is not part
of the content digest it records.

API::

    read_manifest(root) -> dict | None          the current manifest, validated (None when there is none)
    make_release(root, version, note=None, today=None, key=None) -> Release
    build_manifest(kb, version, previous, today, note=None) -> dict;  write_manifest(root, manifest) -> Path
    verify_release(kb, version)                 refuse (KnowledgeBaseError) unless kb is exactly that release
    changes(old_manifest, new_manifest) -> dict added / removed / changed rules and versioned files
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bmdkb.engine.authoring.lint import failing, lint
from bmdkb.engine.authoring.manifest import MANIFEST, read_manifest  # noqa: F401 (part of this module's API)
from bmdkb.engine.kb.identity import MANIFEST_KEYS, identity
from bmdkb.engine.kb import schemas
from bmdkb.engine.common.errors import BmdkbError, KnowledgeBaseError, Problem
from bmdkb.engine.common.yamlio import load_file
from bmdkb.engine.kb.knowledge_base import canonical_digest, load, sha256_bytes
from bmdkb.engine.authoring import release_anchor
from bmdkb.engine.review.governance import write_time
from bmdkb.engine.kb import root as kbroot

CHANGELOG = "knowledge/CHANGELOG.md"
CHANGELOG_HEAD = ("# Knowledge-base changelog\n\n"
                  "One entry per release, newest first, written by `bmdkb release VERSION`.\n")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


class ReleaseError(BmdkbError):
    """A release that cannot be made as asked (exit 2)."""


@dataclass
class Release:
    """A release made: the manifest written and the changelog entry."""

    manifest: dict
    entry: str          # the changelog entry written
    path: Path          # the manifest file


def semver(text: str) -> tuple[int, int, int]:
    """``1.2.3`` -> (1, 2, 3); BmdkbError when ``text`` is not MAJOR.MINOR.PATCH."""
    m = _SEMVER.match(str(text))
    if not m:
        raise ReleaseError(Problem("VERSION", "", f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)"))
    return tuple(int(x) for x in m.groups())


def build_manifest(kb, version: str, previous: str | None, today: dt.date, note: str | None = None) -> dict:
    """The manifest of release ``version`` of ``kb``: every content file's digest and every rule's version and digest."""
    root = Path(kb.root)
    versioned = []
    for rel in sorted(kb.files):
        if rel.startswith("knowledge/rules/") or not rel.endswith(".yaml"):
            continue
        data = load_file(root / rel, KnowledgeBaseError, rel)
        if isinstance(data, dict) and isinstance(data.get("version"), int):
            versioned.append({"file": rel, "version": data["version"], "digest": canonical_digest(data)})
    tests = {}
    for folder, pattern in (("knowledge/rules", "*.test.yaml"), ("knowledge/cases", "*.yaml")):
        for path in sorted((root / folder).rglob(pattern)):
            tests[path.relative_to(root).as_posix()] = sha256_bytes(path.read_bytes())
    manifest = {
        "kind": "release-manifest",
        "release": version,
        "previous": previous,
        "date": today.isoformat(),
    }
    if note:
        manifest["note"] = note
    manifest.update({
        "knowledge_base": identity(kb, MANIFEST_KEYS),
        "files": dict(sorted(kb.files.items())),
        "rules": [{"id": r.id, "version": r.version, "file": r.file, "digest": r.digest}
                  for r in sorted(kb.rules.values(), key=lambda r: r.id)],
        "versioned_files": versioned,
        "tests": tests,
        "ledger": release_anchor.anchor(root),
    })
    return manifest


def changes(old: dict | None, new: dict) -> dict:
    """Rules added, removed and changed (digest differs) between two manifests, and versioned files changed."""
    old_rules = {r["id"]: r for r in (old or {}).get("rules", [])}
    new_rules = {r["id"]: r for r in new["rules"]}
    old_files = {f["file"]: f for f in (old or {}).get("versioned_files", [])}
    return {
        "added": [new_rules[i] for i in sorted(set(new_rules) - set(old_rules))],
        "removed": [old_rules[i] for i in sorted(set(old_rules) - set(new_rules))],
        "changed": [(old_rules[i], new_rules[i]) for i in sorted(set(old_rules) & set(new_rules))
                    if old_rules[i]["digest"] != new_rules[i]["digest"]],
        "files_changed": [(old_files[f["file"]], f) for f in new["versioned_files"]
                          if f["file"] in old_files and old_files[f["file"]]["digest"] != f["digest"]],
    }


def changelog_entry(old: dict | None, new: dict) -> str:
    """The changelog entry between manifests ``old`` (None for the first release) and ``new``."""
    delta = changes(old, new)
    lines = [f"## {new['release']} ({new['date']})", ""]
    if new.get("note"):
        lines += [new["note"].strip(), ""]
    if old is None:
        lines.append(f"First release: {len(new['rules'])} rules.")
    else:
        lines.append(f"Since {old['release']}: {len(delta['added'])} added, {len(delta['removed'])} removed, "
                     f"{len(delta['changed'])} changed.")
    lines.append("")
    for r in delta["added"]:
        lines.append(f"- Added `{r['id']}` (version {r['version']})")
    for o, n in delta["changed"]:
        lines.append(f"- Changed `{n['id']}` (version {o['version']} -> {n['version']})")
    for r in delta["removed"]:
        lines.append(f"- Removed `{r['id']}` (was version {r['version']})")
    for o, n in delta["files_changed"]:
        lines.append(f"- Changed `{n['file']}` (version {o['version']} -> {n['version']})")
    lines.append(f"- Knowledge-base digest `{new['knowledge_base']['digest']}`")
    return "\n".join(lines) + "\n"


def _set_release_line(kb_yaml: Path, version: str) -> str:
    """Rewrite only the `release:` line, keeping the file's comments; returns the old text."""
    text = kb_yaml.read_text(encoding="utf-8")
    new_text, count = re.subn(r"(?m)^(release:[ \t]*)\S+", lambda m: m.group(1) + version, text, count=1)
    if count != 1:
        raise ReleaseError(Problem("knowledge/kb.yaml", "release", "no top-level `release:` line to update"))
    kb_yaml.write_text(new_text, encoding="utf-8")
    return text


def make_release(root, version: str, note: str | None = None, today: dt.date | None = None,
                 key=None) -> Release:
    """Check, stamp and record release ``version`` of the knowledge base at ``root``.

    Refused (nothing written) when the version is not greater than the current
    release's, or when lint reports errors (among them a rule whose content
    changed without a version bump), or when the review ledger fails verification. The manifest
    anchors the ledger's head and, once the ledger is signed, is signed with ``key`` (an editor's,
    see release_anchor). The release date is ``today`` (Python callers), else the system clock's
    (UTC), never $BMDKB_NOW: the clock override is for reading."""
    root = Path(root)
    today = today or write_time().date()
    semver(version)
    previous = read_manifest(root)
    if previous is not None and semver(version) <= semver(previous["release"]):
        raise ReleaseError(Problem(MANIFEST, "release",
                                   f"release {version} is not greater than the current release {previous['release']}"))
    errors = failing(lint(root), "error")
    if errors:
        raise ReleaseError([Problem(f"release {version}", "", f"refused: lint reports {len(errors)} "
                                    f"error{'s' if len(errors) != 1 else ''}")]
                           + [Problem(f.file, f.field, f"[{f.check}] {f.message}") for f in errors])
    kb_yaml = root / "knowledge" / "kb.yaml"
    original = _set_release_line(kb_yaml, version)
    try:
        kb = load(root)
    except BmdkbError:
        kb_yaml.write_text(original, encoding="utf-8")
        raise
    try:
        manifest = release_anchor.sign(build_manifest(kb, version, previous["release"] if previous else None, today,
                                                      note), root, kb.board, key)
    except BmdkbError:
        kb_yaml.write_text(original, encoding="utf-8")
        raise
    path = write_manifest(root, manifest)
    entry = changelog_entry(previous, manifest)
    log = root / CHANGELOG
    existing = log.read_text(encoding="utf-8") if log.is_file() else CHANGELOG_HEAD
    body = existing[len(CHANGELOG_HEAD):] if existing.startswith(CHANGELOG_HEAD) else existing
    log.write_text(CHANGELOG_HEAD + "\n" + entry + ("\n" + body.lstrip("\n") if body.strip() else ""), encoding="utf-8")
    return Release(manifest, entry, path)


def write_manifest(root, manifest: dict) -> Path:
    """Write ``manifest`` to knowledge/release-manifest.yaml under ``root``; return its path."""
    path = Path(root) / MANIFEST
    header = (f"# Release manifest of {manifest['knowledge_base']['name']} {manifest['release']}: "
              "written by `bmdkb release`, do not edit.\n"
              "# `bmdkb evaluate --release VERSION` refuses content whose files do not match these digests.\n")
    path.write_text(header + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=120),
                    encoding="utf-8")
    return path


def verify_release(kb, version: str | None) -> None:
    """Refuse (KnowledgeBaseError, exit 2) unless ``kb`` is exactly release ``version``:
    the manifest names that release and every content file matches its digest."""
    if not version:
        return
    manifest = read_manifest(kb.root)
    if manifest is None:
        raise KnowledgeBaseError(Problem(MANIFEST, "", f"no release manifest: cannot pin to release {version}"))
    if manifest["release"] != version:
        raise KnowledgeBaseError(Problem(MANIFEST, "release",
                                         f"the knowledge base is release {manifest['release']}, not {version}"))
    listed, actual = manifest["files"], kb.files
    mismatched = [p for p in sorted(set(listed) | set(actual)) if listed.get(p) != actual.get(p)]
    if not mismatched:
        return
    first = mismatched[0]
    more = f" ({len(mismatched) - 1} more file{'s' if len(mismatched) != 2 else ''} differ)" if len(mismatched) > 1 else ""
    if first not in actual:
        message = f"listed in release {version} but missing{more}"
    elif first not in listed:
        message = f"not part of release {version}{more}"
    else:
        message = f"does not match release {version}: sha256 {actual[first]}, the manifest lists {listed[first]}{more}"
    raise KnowledgeBaseError(Problem(first, "", message))


def release_at(root, version: str, note: str | None = None, key=None) -> Release:
    """``make_release`` at a root a command may write to: every file it writes must stay inside
    ``root`` (engine/kb/root.py's write_target refuses otherwise, before anything is written)."""
    for written in ("knowledge/kb.yaml", MANIFEST, CHANGELOG):
        kbroot.write_target(root, written)
    return make_release(root, version, note, key=key)
