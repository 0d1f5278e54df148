"""Options shared by every command, kept apart from main.py so command modules can
import them without importing the group that imports them."""
from __future__ import annotations

import click

from bmdkb.engine import knowledge_base

kb_option = click.option(
    "--kb", "kb_root", envvar=knowledge_base.ENV_VAR, type=click.Path(file_okay=False), default=None,
    help="Knowledge-base root (a folder holding knowledge/ and provenance/). Default: the shipped one, "
         f"or ${knowledge_base.ENV_VAR}.")


def load_kb(kb_root):
    """The checked knowledge base; a cold process reuses the previous check when no byte changed."""
    from bmdkb.engine import kbcache

    return kbcache.load(kb_root)
