"""A decision form posted on the board page, turned into the one call `bmdkb review` makes:
``governance.decide`` on the knowledge base loaded for writing (the ledger and its lock must
lie inside the root, never in the installed package), with the signed-in member's roster id as
the decider. Every refusal is governance's own, so the page and the command line refuse the
same decisions with the same message."""
from __future__ import annotations

from pathlib import Path

from bmdkb.engine.kb import cache
from bmdkb.engine.kb import root as kbroot
from bmdkb.engine.review import governance, ledger, rosterlog
from bmdkb.engine.review.governance import ReviewError
from bmdkb.engine.common.errors import Problem

ACTIONS = ("start", "approve", "request-changes")


def check_writable(root) -> None:
    """Refuse (RootError) a root whose ledger or lock would be written outside it, as the CLI does."""
    kbroot.write_target(root, ledger.LEDGER_FILE)
    kbroot.write_target(root, str(Path(ledger.LEDGER_FILE).with_name(f".{Path(ledger.LEDGER_FILE).name}.lock")))


def key_for(board: dict, keys, member_id: str):
    """The signing key (``signing.Signer``) among ``keys`` whose public key ``board`` lists for
    ``member_id``, or None: the board server signs only with a member's own key."""
    for key in keys or ():
        member = rosterlog.member_with_key(board, key.public)
        if member is not None and member["id"] == member_id:
            return key
    return None


def record(root, rule_id: str, member_id: str, form: dict, keys=(), now=None) -> governance.Outcome:
    """Record the decision in ``form`` (action, digest, coi, note, review_by) by ``member_id``,
    signed with that member's key from ``keys``, or raise the BmdkbError governance refuses it with
    (nothing is written then; with no key of the member's, governance refuses as it refuses a
    command line without --key)."""
    action = form.get("action")
    if action not in ACTIONS:
        raise ReviewError(Problem(rule_id, "action", f"unknown decision {action!r}; the page offers "
                                                     f"{', '.join(ACTIONS)}"))
    check_writable(root)
    kb = cache.load(root)
    return governance.decide(kb, action, rule_id, member_id, note=form.get("note"),
                             coi=form.get("coi") if action == "approve" else None,
                             review_by=(form.get("review_by") or None) if action == "approve" else None,
                             now=now, key=key_for(kb.board, keys, member_id), read_digest=form.get("digest"))
