"""`bmdkb evaluate`: the result of one or more patient cases, as text, Markdown or JSON."""
from __future__ import annotations

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import engine_option, kb_option, load_kb


@click.command(epilog=exitstatus.epilog("evaluate"))
@click.argument("cases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--approved-only", is_flag=True, help="Drop conclusions that rest on content not yet approved.")
@click.option("--explain", "with_why", is_flag=True, help="Add each conclusion's short why.")
@click.option("--release", "release_version", metavar="VERSION", default=None,
              help="Pin to this release: refuse unless every content file matches its release manifest.")
@engine_option
@kb_option
def evaluate(cases, fmt, approved_only, with_why, release_version, engine, kb_root):
    """Evaluate one or more patient CASES (YAML or JSON files).

    Nothing is printed unless every case evaluates: a bad case stops the run with exit status 2.
    """
    from bmdkb.engine.api import Evaluator, read_case   # lazy: start-up time
    from bmdkb.cli.render import result as render

    kb = load_kb(kb_root)
    if release_version:   # the release machinery (and the linter it imports) only when pinning
        from bmdkb.engine.api import release
        release.verify_release(kb, release_version)
    evaluator = Evaluator(kb, engine=engine)
    evaluations = [evaluator.evaluate(read_case(path, path), path, approved_only=approved_only) for path in cases]
    if fmt == "json":
        documents = [e.result for e in evaluations]
        click.echo(render.to_json(documents[0] if len(documents) == 1 else documents), nl=False)
        return
    renderer = render.markdown if fmt == "markdown" else render.text
    pieces = []
    for e in evaluations:
        why = None
        if with_why:
            from bmdkb.engine.api import explainer
            why = lambda c, e=e: explainer.short_why(kb, e, c.code)  # noqa: E731
        pieces.append(renderer(e.document, kb, explain=why))
    click.echo("\n".join(pieces), nl=False)
