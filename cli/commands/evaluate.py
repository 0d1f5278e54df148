"""`bmdkb evaluate`: the result of one or more patient cases, as text, Markdown or JSON."""
from __future__ import annotations

import functools

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import engine_option, kb_option, load_kb


@click.command(epilog=exitstatus.epilog("evaluate"))
@click.argument("cases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "fhir", "prov"]), default="text", show_default=True)
@click.option("--approved-only", is_flag=True, help="Drop conclusions that rest on content not yet approved.")
@click.option("--explain", "with_why", is_flag=True, help="Add each conclusion's short why.")
@click.option("--facility", "facility_file", type=click.Path(dir_okay=False), default=None,
              help="FHIR input: the facility's LSC per site (the case's facility block), optionally keyed by "
                   "scanner id (FHIR has no home for it).")
@click.option("--release", "release_version", metavar="VERSION", default=None,
              help="Pin to this release: refuse unless every content file matches its release manifest.")
@engine_option
@kb_option
def evaluate(cases, fmt, approved_only, with_why, facility_file, release_version, engine, kb_root):
    """Evaluate one or more patient CASES (YAML or JSON files): contract cases or FHIR R4 Bundles,
    told apart by content.

    Nothing is printed unless every case evaluates: a bad case stops the run with exit status 2.
    """
    from bmdkb.engine.api import Evaluator, read_facility   # lazy: start-up time
    from bmdkb.cli.render import result as render

    kb = load_kb(kb_root)
    if release_version:   # the release machinery (and the linter it imports) only when pinning
        from bmdkb.engine.api import release
        release.verify_release(kb, release_version)
    evaluator = Evaluator(kb, engine=engine)
    # the --facility file is read and checked once, at the first Bundle that needs it
    facility = functools.cache(lambda: read_facility(kb, facility_file) if facility_file else None)
    evaluations = [_evaluate_one(evaluator, path, approved_only, facility, facility_file) for path in cases]
    if fmt == "prov":
        from bmdkb.cli.render import prov
        titles = {sid: s.meta.get("title", sid) for sid, s in kb.sources.items()}
        texts = [prov.to_json(e.result, e.file, titles) for e in evaluations]
        # one PROV-JSON document per case; several cases: a JSON array of them, as --format json does
        click.echo(texts[0] if len(texts) == 1 else "[\n" + ",\n".join(t.rstrip("\n") for t in texts) + "\n]\n",
                   nl=False)
        return
    if fmt in ("json", "fhir"):
        if fmt == "fhir":
            from bmdkb.engine.api import fhir_output
            documents = [fhir_output(e, kb) for e in evaluations]
        else:
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
        pieces.append(renderer(e.document, kb, explain=why, input_info=e.input_info))
    click.echo("\n".join(pieces), nl=False)


def _evaluate_one(evaluator, path, approved_only, facility, facility_file):
    """One file: a FHIR Bundle (mapped onto the contract case) or a contract case."""
    from bmdkb.engine.api import evaluate_bundle, is_fhir_bundle, read_case

    data = read_case(path, path)
    if is_fhir_bundle(data):
        return evaluate_bundle(evaluator, data, path, facility(), approved_only,
                               facility_file=facility_file or "--facility")
    return evaluator.evaluate(data, path, approved_only=approved_only)
