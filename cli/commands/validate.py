"""`bmdkb validate`: check the knowledge base and patient cases, listing every problem."""
from __future__ import annotations

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import kb_option, load_kb, root_path


@click.command(epilog=exitstatus.epilog("validate"))
@click.argument("cases", nargs=-1, type=click.Path(dir_okay=False))
@kb_option
def validate(cases, kb_root):
    """Check the knowledge base and, if given, patient CASES; list every problem with file and field."""
    from bmdkb.engine.api import validate as run_validation   # lazy: start-up time

    run_validation(lambda: load_kb(root=root_path(kb_root)), cases, click.echo).raise_for_problems()
