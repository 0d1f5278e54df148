"""The review ledger's head anchored in a release manifest, and the manifest's signature, in the
manner of Certificate Transparency's signed tree heads.

``bmdkb release`` records in the manifest's ``ledger`` block how many entries the review ledger
and the roster log had and the hash of each one's last entry, the roster in force and the signing
epoch; once the ledger is signed (a roster has been adopted) the manifest must be signed too, by
an ``editor`` of the roster in force, over the whole manifest (``signature``: signer and value).

``check(root, version)`` (`bmdkb review verify --release VERSION`) verifies the ledger and the
roster log, then against the manifest: entry N of each still has the anchored hash (any rewrite
of an entry up to N changes it, since each hash covers the one before), neither is shorter than
N (truncation), the signing epoch is the one the release saw (so nobody can later declare signed
entries "unsigned history"), and the manifest's signature holds under the anchored roster.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bmdkb.engine.common.errors import BmdkbError, KnowledgeBaseError, Problem
from bmdkb.engine.common.yamlio import load_file
from bmdkb.engine.authoring.manifest import MANIFEST, read_manifest
from bmdkb.engine.kb import schemas
from bmdkb.engine.review import ledger, rosterlog, signing
from bmdkb.engine.review.roster import IdentityError

KIND = "release-manifest"
SIGNING_ROLE = "editor"


class AnchorError(BmdkbError):
    """A release that cannot anchor or sign the ledger as asked (exit 2, nothing written)."""


def anchor(root) -> dict:
    """The ``ledger`` block of a release manifest for the knowledge base at ``root``; AnchorError when
    the ledger or the roster log fails verification (a release never anchors a broken ledger)."""
    path = Path(root) / ledger.LEDGER_FILE
    reading = ledger.read(path)
    if not reading.ok:
        raise AnchorError(Problem(reading.broken.file, "", f"{reading.broken.message}; a release cannot anchor a "
                                                           "ledger that fails verification"))
    rosters = reading.rosters
    current = rosters.current
    return {"file": ledger.LEDGER_FILE, "entries": len(reading.entries), "head": reading.head,
            "signed_from": rosters.epoch, "roster": current["roster"] if current else None,
            "roster_entries": len(rosters.entries), "roster_head": rosters.head}


def sign(manifest: dict, root, board: dict, key: signing.Signer | None) -> dict:
    """``manifest`` with its ``signature``, when its ledger block says the ledger is signed (else
    unchanged, unless a key was given: then it is signed all the same). The signer must be an
    editor of the roster in force, and knowledge/board.yaml that roster."""
    block = manifest["ledger"]
    if block["signed_from"] is None and key is None:
        return manifest
    if key is None:
        raise AnchorError(Problem(f"release {manifest['release']}", "--key", "the review ledger is signed (from entry "
                                  f"{block['signed_from']}), so the release manifest must be signed too: give --key "
                                  f"FILE (an {SIGNING_ROLE}'s key) or set ${signing.KEY_VAR}"))
    rosters = rosterlog.read(Path(root) / rosterlog.ROSTER_LOG)
    authority = rosters.current["board"] if rosters.current else board
    if rosters.current and rosters.current["roster"] != rosterlog.digest(board):
        raise AnchorError(Problem("knowledge/board.yaml", "", "differs from the roster in force: an editor adopts it "
                                                              "(`bmdkb review adopt-roster`) before the release"))
    member = rosterlog.member_with_key(authority, key.public)
    if member is None:
        raise AnchorError(Problem(key.source, "--key", "is not the key of any member of the roster in force"))
    if SIGNING_ROLE not in member["roles"]:
        raise IdentityError(Problem(key.source, "--key", f"{member['name']} ({member['id']}) has roles "
                                                         f"{', '.join(member['roles'])}; signing a release needs "
                                                         f"{SIGNING_ROLE}"))
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return {**body, "signature": {"signer": member["id"],
                                  "value": key.sign(signing.payload(KIND, body))}}


@dataclass
class Verdict:
    """The outcome of checking the ledger against a release: the reading, what was checked, the first problem."""

    reading: ledger.Reading
    manifest: dict
    checked: list = field(default_factory=list)
    broken: Problem | None = None


def _manifest(root, version: str, manifest_file) -> tuple[dict, str]:
    if manifest_file:
        where = str(manifest_file)
        data = load_file(Path(manifest_file), KnowledgeBaseError, where)
        found = schemas.problems("release-manifest", data, where)
        if found:
            raise KnowledgeBaseError(found)
    else:
        where, data = MANIFEST, read_manifest(root)
        if data is None:
            raise KnowledgeBaseError(Problem(MANIFEST, "", f"no release manifest: cannot verify against release "
                                                           f"{version}"))
    if data["release"] != version:
        raise KnowledgeBaseError(Problem(where, "release", f"the manifest is release {data['release']}, not {version}"))
    if "ledger" not in data:
        raise KnowledgeBaseError(Problem(where, "ledger", f"release {version} records no ledger head (releases from "
                                                          "1.2.0 on do)"))
    return data, where


def _signature_problem(manifest: dict, where: str, rosters: rosterlog.RosterLog) -> str | None:
    block, sig = manifest["ledger"], manifest.get("signature")
    if sig is None:
        return (f"unsigned, but it records a signed ledger (from entry {block['signed_from']}): the manifest "
                "was edited" if block["signed_from"] is not None else None)
    n = block["roster_entries"]
    adopted = rosters.entries[n - 1] if 0 < n <= len(rosters.entries) else None
    if adopted is None or adopted["roster"] != block["roster"]:
        return f"signed under roster {str(block['roster'])[:19]}…, which the roster log does not hold"
    member = next((m for m in adopted["board"]["members"] if m["id"] == sig["signer"]), None)
    if member is None or SIGNING_ROLE not in member["roles"] or not member.get("public_key"):
        return f"signer {sig['signer']} is not an {SIGNING_ROLE} with a key in the roster it names"
    body = {k: v for k, v in manifest.items() if k != "signature"}
    if not signing.valid(member["public_key"], signing.payload(KIND, body), sig["value"]):
        return f"the signature does not verify with {sig['signer']}'s key: the manifest was edited or forged"
    return None


def check(root, version: str, manifest_file=None) -> Verdict:
    """Verify the ledger of the knowledge base at ``root`` against release ``version``'s manifest
    (``manifest_file``: a copy kept outside the repository, else knowledge/release-manifest.yaml).
    KnowledgeBaseError (exit 2) when there is no such manifest; otherwise a Verdict."""
    manifest, where = _manifest(root, version, manifest_file)
    block = manifest["ledger"]
    reading = ledger.read(Path(root) / ledger.LEDGER_FILE)
    verdict = Verdict(reading, manifest)
    rosters = reading.rosters
    if not reading.ok:
        verdict.broken = reading.broken
        return verdict
    problem = _signature_problem(manifest, where, rosters)   # the manifest is trusted only once its signature holds
    if problem:
        verdict.broken = Problem(where, "", problem)
        return verdict
    if not ledger.check_anchor(reading, block, f"release {version}").ok:
        verdict.broken = reading.broken
        return verdict
    n = block["roster_entries"]
    if n and (len(rosters.entries) < n or rosters.entries[n - 1]["hash"] != block["roster_head"]):
        problem = (f"roster entry {n} is not the one release {version} anchored "
                   f"({str(block['roster_head'])[:19]}…): the roster log was truncated or rewritten")
    elif block["signed_from"] != rosters.epoch and not (block["signed_from"] is None
                                                         and (rosters.epoch or 0) > block["entries"]):
        problem = (f"signing began at entry {rosters.epoch}, but release {version} recorded "
                   f"{block['signed_from'] or 'no signed entries'}: the roster log or the ledger was rewritten")
    if problem:
        verdict.broken = Problem(rosters.display, "", problem)
        return verdict
    signer = manifest.get("signature", {}).get("signer")
    verdict.checked.append(f"anchored by release {version} ({where}"
                           + (f", signed by {signer})" if signer else ", unsigned: the ledger was not signed yet)")
                           + f": entry {block['entries']} is {str(block['head'])[:19]}…")
    return verdict
