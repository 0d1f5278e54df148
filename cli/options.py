"""Options shared by every command, kept apart from main.py so command modules can
import them without importing the group that imports them: the knowledge-base root
(resolved in one place, engine/kbroot.py) and the exit status a command has decided."""
from __future__ import annotations

import sys

import click

from bmdkb.engine.api import exitstatus

from bmdkb.engine.api import knowledge_base

from bmdkb.engine.api import kbroot

STATUS_KEY = "bmdkb.status"

kb_option = click.option(
    "--kb", "kb_root", envvar=knowledge_base.ENV_VAR, type=click.Path(file_okay=False), default=None,
    help="Knowledge-base root (a folder holding knowledge/ and provenance/). Default: "
         f"${knowledge_base.ENV_VAR}, else the current directory when it is one, else the installed one "
         "(commands that write never fall back to it).")


def resolve_root(kb_root, write: bool = False) -> kbroot.Root:
    """The root this command uses (engine/kbroot.py decides); says which on stderr, once."""
    ctx = click.get_current_context(silent=True)
    from_env = False
    if ctx is not None and kb_root is not None:
        from_env = ctx.get_parameter_source("kb_root") == click.core.ParameterSource.ENVIRONMENT
    root = kbroot.resolve(kb_root, from_env=from_env, write=write)
    if ctx is None or not ctx.meta.get("bmdkb.root_said"):
        click.echo(root.describe(), err=True)
        if ctx is not None:
            ctx.meta["bmdkb.root_said"] = True
    return root


def root_path(kb_root, write: bool = False):
    return resolve_root(kb_root, write=write).path


def load_kb(kb_root):
    """The checked knowledge base at the command's root; a cold process reuses the previous
    check when no byte changed."""
    from bmdkb.engine.api import kbcache

    return kbcache.load(root_path(kb_root))


def decide(status: int) -> int:
    """Record the status the command has decided, before its report is printed: a broken pipe
    while printing then exits with it (findings stay non-zero)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[STATUS_KEY] = status
    return status


def decided_status(ctx) -> int:
    return ctx.meta.get(STATUS_KEY, exitstatus.OK)


def finish(status: int) -> None:
    if status != exitstatus.OK:
        sys.exit(status)
