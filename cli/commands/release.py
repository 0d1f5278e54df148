"""`bmdkb release`: make a release (kb.yaml, the release manifest, a changelog entry)."""
from __future__ import annotations

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import kb_option, root_path


@click.command(epilog=exitstatus.epilog("release"))
@click.argument("version")
@click.option("--note", default=None, help="A sentence for the changelog entry.")
@click.option("--key", "key_file", default=None, metavar="FILE",
              help="An editor's signing key: required once the review ledger is signed (default $BMDKB_SIGNING_KEY).")
@kb_option
def release(version, note, key_file, kb_root):
    """Make release VERSION: update kb.yaml, write knowledge/release-manifest.yaml and a changelog entry.

    The manifest anchors the review ledger's head (entries, hash, roster, signing epoch) and, once the
    ledger is signed, is signed by an editor (--key). Refused when VERSION is not greater than the
    current release, lint reports errors, or the ledger fails verification.
    """
    from bmdkb.engine.api import release as engine_release, signing   # lazy: start-up time

    path = signing.key_file(key_file)
    key = signing.load_private_key(path, "--key" if key_file else f"${signing.KEY_VAR}") if path else None
    made = engine_release.release_at(root_path(kb_root, write=True), version, note, key=key)
    click.echo(made.entry, nl=False)
    click.echo(f"wrote {engine_release.MANIFEST} ({len(made.manifest['files'])} files, "
               f"{len(made.manifest['rules'])} rules) and {engine_release.CHANGELOG}; "
               f"digest {made.manifest['knowledge_base']['digest']}")
    anchored = made.manifest["ledger"]
    signer = made.manifest.get("signature", {}).get("signer")
    click.echo(f"anchored the review ledger at entry {anchored['entries']} ({anchored['head']}); "
               + (f"signed by {signer}" if signer else "unsigned (no roster adopted yet)"))
