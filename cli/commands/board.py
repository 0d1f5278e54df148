"""`bmdkb board`: serve the editorial board's web page on the knowledge base's ledger."""
from __future__ import annotations

import os
from pathlib import Path

import click

from bmdkb.engine.api import BmdkbError, Problem, exitstatus
from bmdkb.cli.options import load_kb, review_kb_option as kb_option, root_path


def _secret(path) -> str | None:
    if path is None:
        return None
    text = Path(path).read_text(encoding="utf-8").strip()
    if len(text) < 16:
        raise BmdkbError(Problem(str(path), "", "the proxy's shared secret must be at least 16 characters"))
    return text


def _write_links(path: Path, lines: list[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # the links are credentials
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(f"{line}\n" for line in lines))


@click.command(epilog=exitstatus.epilog("board"))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but this machine needs --trusted-header.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--public-url", default=None, metavar="URL",
              help="Where members reach the board (the proxy's https address in deployment): the only origin "
                   "forms are accepted from.")
@click.option("--member", "members", multiple=True, metavar="ID",
              help="Print a one-time sign-in link for this roster member (repeatable). Default on a local board: "
                   "every member; with --trusted-header: none.")
@click.option("--signin-links", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Also write the sign-in links to FILE (mode 0600).")
@click.option("--trusted-header", default=None, metavar="NAME",
              help="The organisation's sign-on header naming the member (e.g. X-Remote-User); honoured only with "
                   "--proxy-secret-file or --trusted-proxy.")
@click.option("--proxy-secret-file", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
              help="File holding the secret the proxy sends in X-Bmdkb-Proxy-Secret.")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="ADDRESS",
              help="Peer address of the proxy whose sign-on header is trusted (repeatable).")
@click.option("--key", "key_files", multiple=True, metavar="FILE",
              help="A member's private signing key (from `bmdkb review keygen`), repeatable; default "
                   "$BMDKB_SIGNING_KEY. Decisions on the page are signed with the signed-in member's own key; a "
                   "member whose key is not given can read but not decide.")
@click.option("--session-hours", default=12.0, show_default=True, type=click.FloatRange(0.1, 24 * 7))
@kb_option
def board(host, port, public_url, members, signin_links, trusted_header, proxy_secret_file, trusted_proxies,
          key_files, session_hours, kb_root):
    """Serve the editorial board's pages: the queue, each rule with its sources, tests and history,
    what changed since approval, and the forms to start review, approve or request changes.

    Decisions go to the same ledger through the same checks as `bmdkb review`, as the signed-in
    member. Members sign in with a one-time link printed here, or through the organisation's
    sign-on proxy (--trusted-header). Stop it with Ctrl-C.
    """
    import uvicorn   # lazy: only the server needs it
    from bmdkb.engine.api import BoardConfig, Roster, board_app, board_decisions, board_sessions, rosterlog, signing

    root = root_path(kb_root, write=True)
    board_decisions.check_writable(root)
    kb = load_kb(root=root)
    config = BoardConfig(Path(root), host=host, port=port, public_url=public_url, trusted_header=trusted_header,
                         proxy_secret=_secret(proxy_secret_file), trusted_proxies=frozenset(trusted_proxies),
                         session_hours=session_hours)
    roster = Roster(kb.board)
    env_key = signing.key_file(None)
    keys = ([signing.load_private_key(f, "--key") for f in key_files] if key_files else
            [signing.load_private_key(env_key, f"${signing.KEY_VAR}")] if env_key else [])
    holders = []
    for key in keys:
        member = rosterlog.member_with_key(kb.board, key.public)
        if member is None:
            raise BmdkbError(Problem(key.source, "--key", f"the key ({key.public[:20]}…) is not the key of any "
                                                          "member of knowledge/board.yaml"))
        holders.append(member["id"])
    wanted = list(members) if members else holders if holders else ([] if trusted_header else list(roster.members))
    store = board_sessions.SessionStore(session_hours)
    lines = []
    for name in wanted:
        member = roster.member_id(name)
        if member is None:
            raise BmdkbError(Problem("--member", "", f"{name!r} is not a member of the editorial board "
                                                     "(knowledge/board.yaml)"))
        lines.append(f"{roster.members[member]['name']} ({member}): {config.origin}/signin?code="
                     f"{store.issue_code(member)}")
    app = board_app(config, store, keys)
    click.echo(f"Editorial board of {kb.meta['name']} {kb.release}: {config.origin}/")
    if lines:
        click.echo("One-time sign-in links (each works once; give each member only their own):")
        for line in lines:
            click.echo(f"  {line}")
    click.echo(f"Signing keys held for: {', '.join(holders)}" if holders else
               "No signing keys given (--key): members can read the board, and a decision needs the member's key.")
    if signin_links is not None:
        _write_links(signin_links, lines)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False,
                proxy_headers=False)
