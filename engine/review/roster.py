"""Who the editorial board is: the roster in knowledge/board.yaml, and how a name given with
--by (or a rule's ``author``) is matched to one member.

A name is compared by its key: Unicode NFKC normalisation, then case folding, then inner
whitespace collapsed. A name holding an invisible or formatting character (Unicode category
Cf: zero-width spaces and joiners, word joiner, byte-order mark, bidi controls) is refused
outright, so "Test\\u200bAuthor" can never pass for a different person from "Test Author".
Spellings that differ otherwise ("Dr Lena Ortiz", "Dr. Lena Ortiz") are different names: the
second is accepted only if the roster lists it among that member's ``aliases``; either way it
is the member's id, never the spelling, that quorum and the author rule compare.

Roles: ``reviewer`` starts review, approves and requests changes; ``reviewer`` or ``editor``
retires; anyone may submit (the name is still checked for invisible characters, and recorded in
the member's own spelling when it is rostered). A rule's author is usually a team: the team is
one roster member (role ``author``), and no name that resolves to it can approve the rule.
"""
from __future__ import annotations

import unicodedata

from bmdkb.engine.common.errors import BmdkbError, Problem

BOARD_FILE = "knowledge/board.yaml"
REVIEWER_ACTIONS = ("start", "approve", "request-changes")
ROLES_FOR = {"start": ("reviewer",), "approve": ("reviewer",), "request-changes": ("reviewer",),
             "retire": ("reviewer", "editor")}


class IdentityError(BmdkbError):
    """A --by name that is malformed or names no rostered member allowed to decide: exit 2."""


def invisible(name: str) -> list[str]:
    """The invisible or formatting characters (Unicode category Cf) in ``name``, as U+XXXX."""
    return [f"U+{ord(c):04X}" for c in name if unicodedata.category(c) == "Cf"]


def key(name: str | None) -> str:
    """The form names are compared in: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())


class Roster:
    """The board's members, looked up by id or by any of their names' keys."""

    def __init__(self, board: dict):
        self.members = {m["id"]: m for m in (board or {}).get("members", [])}
        self._by_key: dict[str, str] = {}
        for mid, m in self.members.items():
            for name in [m["name"], *m.get("aliases", [])]:
                self._by_key.setdefault(key(name), mid)

    def member_id(self, name: str | None) -> str | None:
        """The id of the member ``name`` names (by name, alias or id), or None."""
        if name is None or invisible(name):
            return None
        k = key(name)
        if k in self.members:
            return k
        return self._by_key.get(k)

    def identity(self, name: str | None) -> str:
        """What two names are compared by: the member id when rostered, else the name's key
        (marked so that it never equals an id)."""
        mid = self.member_id(name)
        return mid if mid is not None else "unrostered:" + key(name)

    def may(self, action: str, name: str | None) -> bool:
        """Whether ``name`` is a rostered member whose roles allow ``action``."""
        mid = self.member_id(name)
        if action not in ROLES_FOR:
            return True
        return mid is not None and bool(set(self.members[mid]["roles"]) & set(ROLES_FOR[action]))

    def may_member(self, action: str, mid: str | None) -> bool:
        """Whether member id ``mid`` is rostered with a role that allows ``action``."""
        if action not in ROLES_FOR:
            return mid in self.members
        return mid in self.members and bool(set(self.members[mid]["roles"]) & set(ROLES_FOR[action]))

    def check(self, action: str, name: str, where: str, field: str = "--by") -> str:
        """The name to record for ``name`` deciding ``action``, or IdentityError: invisible characters,
        an unrostered name, or a member without the role."""
        bad = invisible(name)
        if bad:
            raise IdentityError(Problem(where, field, f"the name {name!r} holds invisible or formatting characters "
                                                   f"({', '.join(bad)}); type the member's name plainly"))
        mid = self.member_id(name)
        if action not in ROLES_FOR:
            return self.members[mid]["name"] if mid else " ".join(name.split())
        if mid is None:
            raise IdentityError(Problem(where, field, f"{' '.join(name.split())!r} is not a member of the editorial board "
                                                   f"({BOARD_FILE}); only rostered members may "
                                                   f"{action.replace('-', ' ')}"))
        if not self.may(action, name):
            raise IdentityError(Problem(where, field, f"{self.members[mid]['name']} ({mid}) has roles "
                                                   f"{', '.join(self.members[mid]['roles'])} in {BOARD_FILE}; to "
                                                   f"{action.replace('-', ' ')} needs "
                                                   f"{' or '.join(ROLES_FOR[action])}"))
        return self.members[mid]["name"]
