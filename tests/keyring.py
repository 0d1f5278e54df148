"""Signing keys for test knowledge bases: generated per test, in a folder next to the root
(never inside it), and the roster adopted, so tests can sign decisions as the board would.

``ensure(root)`` gives every member of root's knowledge/board.yaml a key (adding an editor,
"Ed Editor", when the board has none, since only an editor adopts a roster), writes the public
keys into board.yaml and adopts it when it differs from the roster in force; ``key(root, name)``
is the Signer of the member a name resolves to (None for a name no member has).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.review import governance, ledger, rosterlog, signing
from bmdkb.engine.review.roster import Roster

EDITOR = {"id": "ed", "name": "Ed Editor", "roles": ["editor"]}
BOARD = "knowledge/board.yaml"
EARLIEST = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def folder(root: Path) -> Path:
    """Where root's test keys live: next to the root, outside it."""
    return Path(root).parent / f"{Path(root).name}-keys"


def key_path(root: Path, member_id: str) -> Path:
    """The private-key file of ``member_id``."""
    return folder(root) / f"{member_id}.key"


def signer(root: Path, member_id: str) -> signing.Signer:
    """The loaded key of ``member_id`` (made on first use)."""
    path = key_path(root, member_id)
    if not path.exists():
        folder(root).mkdir(exist_ok=True)
        signing.write_private_key(signing.generate(), path, root)
    return signing.load_private_key(path)


def write_board(root: Path, board: dict) -> None:
    """board.yaml with one flow-style line per member (the fixture's layout)."""
    lines = [f"kind: {board['kind']}", f"version: {board['version']}", "members:"]
    lines += ["  - " + yaml.safe_dump(m, default_flow_style=True, sort_keys=False, width=10_000).strip()
              for m in board["members"]]
    (Path(root) / BOARD).write_text("\n".join(lines) + "\n", encoding="utf-8")


def enrol(root: Path) -> dict:
    """Give every member a key in board.yaml (and the board an editor); returns the board."""
    path = Path(root) / BOARD
    board = yaml.safe_load(path.read_text(encoding="utf-8"))
    changed = False
    if not any("editor" in m["roles"] for m in board["members"]):
        board["members"].append(dict(EDITOR))
        changed = True
    for member in board["members"]:
        public = signer(root, member["id"]).public
        if member.get("public_key") != public:
            member["public_key"] = public
            changed = True
    if changed:
        board["version"] += 1   # a content change (release lint wants the version bumped)
        write_board(root, board)
    return board


def _last_time(root: Path) -> dt.datetime:
    reading = ledger.read(Path(root) / ledger.LEDGER_FILE)
    times = [e["time"] for e in reading.entries[-1:]] + [e["time"] for e in reading.rosters.entries[-1:]]
    return max([EARLIEST] + [dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times])


def adopt(root: Path, editor: str | None = None) -> dict | None:
    """Adopt board.yaml when it differs from the roster in force, signed by an editor of the roster
    in force (``editor``: that member id); returns the roster-log entry, or None when nothing changed."""
    kb = knowledge_base.load(root)
    rosters = rosterlog.read(Path(root) / rosterlog.ROSTER_LOG)
    if rosters.current and rosters.current["roster"] == rosterlog.digest(kb.board):
        return None
    authority = rosters.current["board"] if rosters.current else kb.board
    editor = editor or next(m["id"] for m in authority["members"] if "editor" in m["roles"])
    return governance.adopt_roster(kb, signer(root, editor), now=_last_time(root))


def ensure(root: Path) -> None:
    """Keys for every member, and board.yaml adopted."""
    enrol(root)
    adopt(root)


def key(root: Path, name: str | None) -> signing.Signer | None:
    """The key of the member ``name`` resolves to in board.yaml, or None."""
    board = yaml.safe_load((Path(root) / BOARD).read_text(encoding="utf-8"))
    mid = Roster(board).member_id(name) if name else None
    return signer(root, mid) if mid else None


def key_file(root: Path, name: str | None) -> Path | None:
    """The private-key file of the member ``name`` resolves to in board.yaml, or None."""
    board = yaml.safe_load((Path(root) / BOARD).read_text(encoding="utf-8"))
    mid = Roster(board).member_id(name) if name else None
    if mid is None:
        return None
    signer(root, mid)
    return key_path(root, mid)


DECISIONS = ("submit", "start", "approve", "request-changes", "retire")


def cli_args(root: Path, args) -> list:
    """``--key FILE`` for a `review` decision's ``--by`` member (nothing for other commands or unknown names)."""
    args = list(args)
    if not args or args[0] not in DECISIONS or "--key" in args or "--by" not in args:
        return []
    path = key_file(root, args[args.index("--by") + 1])
    return ["--key", str(path)] if path else []


def fixed_clock(monkeypatch, when) -> None:
    """Date writes at ``when`` (ISO text or datetime): the test-only, Python-level write clock."""
    moment = governance.clock(dt.datetime.fromisoformat(when) if isinstance(when, str) else when)
    monkeypatch.setattr(governance, "system_now", lambda: moment)
