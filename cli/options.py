"""Options and helpers shared by every command, kept apart from main.py so command modules can
import them without importing the group that assembles them: the one ``--kb`` option, the
knowledge-base root (resolved in one place, engine/kb/root.py), loading the knowledge base
(always through the cache, engine/kb/cache.py) and the exit status a command has decided."""
from __future__ import annotations

import json

import click

from bmdkb.engine.api import DEFAULT_ENGINE, ENGINES, KB_ENV_VAR, exitstatus, kbroot

STATUS_KEY = "bmdkb.status"

KB_HELP = ("Knowledge-base root (a folder holding knowledge/ and provenance/). Default: "
           f"${KB_ENV_VAR}, else the current directory when it is one, else the installed one "
           "(commands that write never fall back to it).")
REVIEW_KB_HELP = (f"Knowledge-base root (its ledger is written there). Default: ${KB_ENV_VAR}, else the current "
                  "directory when it is a knowledge-base root; decisions are never written into the installed "
                  "package.")


def kb_option_with(help_text: str):
    """The ``--kb`` option (its one definition), with the help text a command group needs."""
    return click.option("--kb", "kb_root", envvar=KB_ENV_VAR, type=click.Path(file_okay=False), default=None,
                        help=help_text)


kb_option = kb_option_with(KB_HELP)
# The rule engine (engine/run/engines.py): both run the same compiled knowledge base, same output.
engine_option = click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True,
                             help="Rule engine: durable (durable_rules) or clips (CLIPS 6.4); both give the "
                                  "same results.")
review_kb_option = kb_option_with(REVIEW_KB_HELP)


def resolve_root(kb_root, write: bool = False):
    """The root this command uses (engine/kb/root.py decides); says which on stderr, once."""
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
    """The path of the root this command uses (see ``resolve_root``)."""
    return resolve_root(kb_root, write=write).path


def load_kb(kb_root=None, root=None):
    """The checked knowledge base at the command's root (or at ``root`` when already resolved);
    a cold process reuses the previous check when no byte changed."""
    from bmdkb.engine.api import kbcache

    return kbcache.load(root if root is not None else root_path(kb_root))


def decide(status: int) -> int:
    """Record the status the command has decided, before its report is printed: a broken pipe
    while printing then exits with it (findings stay non-zero)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[STATUS_KEY] = status
    return status


def decided_status(ctx) -> int:
    """The status the running command decided (OK when it decided none)."""
    return ctx.meta.get(STATUS_KEY, exitstatus.OK)


def finish(status: int) -> None:
    """End the command with ``status`` through click (the group maps it); nothing for OK."""
    if status != exitstatus.OK:
        click.get_current_context().exit(status)


def echo_json(data) -> None:
    """``data`` as indented JSON, keys in their order (the authoring commands' --format json)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))
