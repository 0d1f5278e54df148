"""`bmdkb release`: make a release (kb.yaml, the release manifest, a changelog entry)."""
from __future__ import annotations

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import kb_option, root_path


@click.command(epilog=exitstatus.epilog("release"))
@click.argument("version")
@click.option("--note", default=None, help="A sentence for the changelog entry.")
@kb_option
def release(version, note, kb_root):
    """Make release VERSION: update kb.yaml, write knowledge/release-manifest.yaml and a changelog entry.

    Refused when VERSION is not greater than the current release or lint reports errors.
    """
    from bmdkb.engine.api import release as engine_release   # lazy: start-up time

    made = engine_release.release_at(root_path(kb_root, write=True), version, note)
    click.echo(made.entry, nl=False)
    click.echo(f"wrote {engine_release.MANIFEST} ({len(made.manifest['files'])} files, "
               f"{len(made.manifest['rules'])} rules) and {engine_release.CHANGELOG}; "
               f"digest {made.manifest['knowledge_base']['digest']}")
