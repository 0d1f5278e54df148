"""Checks on content: parameters have provenance and are used, statements are each
rule's own, and content that changed since the last release had its version bumped."""
from __future__ import annotations

import re

from bmdkb.engine.authoring.lint.draft import document_digest
from bmdkb.engine.authoring.manifest import read_manifest
from bmdkb.engine.common.errors import BmdkbError
from bmdkb.engine.kb import citations
from bmdkb.engine.authoring.lint.registry import check


@check("parameter-without-provenance", "error",
       "a parameter is neither cited (a verified citation) nor marked local policy with an owner")
def parameter_without_provenance(draft):
    """Parameters with no verifying citation and no local-policy owner."""
    for pid, param in draft.kb.parameters.items():
        file, i = draft.parameter_files[pid]
        provenance = param["provenance"]
        if provenance.get("local_policy", {}).get("owner", "").strip():
            continue
        sites = [s for s in draft.citations if s.file == file and s.owner == pid]
        verified = [s for s in sites if citations.verifies(draft.kb, s.raw)]
        if not verified:
            why = "its citations do not verify" if sites else "it has no citation"
            yield file, f"parameters[{i}].provenance", \
                f"parameter {pid} has no provenance: {why} and it is not marked local policy with an owner"


@check("parameter-unused", "warning", "a parameter no rule condition refers to")
def parameter_unused(draft):
    """Parameters that no rule condition refers to."""
    used = {p for rule in draft.kb.rules.values() for p in rule.parameters}
    for pid in draft.kb.parameters:
        if pid not in used:
            file, i = draft.parameter_files[pid]
            yield file, f"parameters[{i}].id", f"no rule uses parameter {pid}"


def _normal(text: str) -> str:
    """Case, spacing and punctuation do not make a statement a different one."""
    return " ".join(re.findall(r"[a-z0-9]+(?:[.,][0-9]+)?", text.lower()))


@check("statement-duplicated", "warning", "a rule's statement repeats another rule's word for word")
def statement_duplicated(draft):
    """Rule statements (clinician or patient) that repeat an earlier rule's word for word."""
    first_said_by: dict = {}
    for rule in draft.kb.rules.values():
        for audience in ("clinician", "patient"):
            text = _normal(rule.statement.get(audience, ""))
            if not text:
                continue
            if (audience, text) in first_said_by:
                yield rule.file, f"statement.{audience}", \
                    f"repeats the {audience} statement of {first_said_by[(audience, text)]} word for word"
            else:
                first_said_by[(audience, text)] = rule.id


@check("content-changed-without-version-bump", "error",
       "a rule or fact file changed since the last release manifest but kept its version")
def version_not_bumped(draft):
    """Rules and versioned files whose content changed since the last release manifest with the version kept, or lowered."""
    try:
        manifest = read_manifest(draft.root)
    except BmdkbError:   # an unreadable manifest is reported by release-manifest-invalid
        return
    if manifest is None:
        return
    release = manifest["release"]
    released = {r["id"]: r for r in manifest["rules"]}
    for rule in draft.kb.rules.values():
        old = released.get(rule.id)
        if old is None or not rule.digest:
            continue
        if rule.version < old["version"]:
            yield rule.file, "version", f"version {rule.version} is lower than {old['version']} in release {release}"
        elif rule.digest != old["digest"] and rule.version == old["version"]:
            yield rule.file, "version", \
                f"content changed since release {release} but the version is still {rule.version}: bump it to {rule.version + 1}"
    for entry in manifest.get("versioned_files", []):
        data = draft.documents.get(entry["file"])
        if data is None or "version" not in data:
            continue
        if data["version"] < entry["version"]:
            yield entry["file"], "version", f"version {data['version']} is lower than {entry['version']} in release {release}"
        elif document_digest(data) != entry["digest"] and data["version"] == entry["version"]:
            yield entry["file"], "version", \
                f"content changed since release {release} but the version is still {data['version']}: " \
                f"bump it to {data['version'] + 1}"


@check("release-manifest-invalid", "error", "the release manifest does not parse or match its schema")
def manifest_invalid(draft):
    """The problems of a release manifest that does not parse or match its schema."""
    try:
        read_manifest(draft.root)
    except BmdkbError as exc:
        for p in exc.problems:
            yield p.file, p.field, p.message


@check("coverage-rule-unknown", "error", "the coverage map names a rule that does not exist")
def coverage_rule_unknown(draft):
    """Rule ids in the coverage map that name no existing rule."""
    for i, section in enumerate(draft.kb.coverage.get("sections", [])):
        for j, statement in enumerate(section["statements"]):
            for k, rule_id in enumerate(statement["rules"]):
                if rule_id not in draft.kb.rules:
                    yield "knowledge/coverage.yaml", f"sections[{i}].statements[{j}].rules[{k}]", f"no rule {rule_id!r}"
