"""`bmdkb diff`: what changed between two knowledge bases, and which test cases it changes."""
from __future__ import annotations

from pathlib import Path

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import echo_json, kb_option, root_path


@click.command(epilog=exitstatus.epilog("diff"))
@click.argument("old")
@click.argument("new")
@click.option("--repo", type=click.Path(file_okay=False), default=None,
              help="Git repository for revisions (default: the --kb root, else the shipped one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@kb_option
def diff(old, new, repo, fmt, kb_root):
    """Compare knowledge bases OLD and NEW (each a knowledge-base root or a git revision).

    Lists rules added, removed and changed field by field, and the test cases whose
    conclusions change between the two.
    """
    from bmdkb.engine.api import kbdiff   # lazy: start-up time
    from bmdkb.cli.render import diff as render

    result = kbdiff.diff_sides(old, new, Path(repo) if repo else root_path(kb_root))
    if fmt == "json":
        echo_json(result.to_dict())
        return
    for line in render.lines(result):
        click.echo(line)
