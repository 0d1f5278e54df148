"""`bmdkb explain`: why a conclusion was drawn for a case, or why it was not."""
from __future__ import annotations

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import kb_option, load_kb


@click.command(epilog=exitstatus.epilog("explain"))
@click.argument("case", type=click.Path(dir_okay=False))
@click.argument("code")
@click.option("--why-not", "why_not", is_flag=True,
              help="Explain why CODE was not concluded: every rule that could have concluded it and "
                   "each condition, satisfied, not satisfied or unknown (data missing).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--audience", type=click.Choice(["clinician", "patient"]), default="clinician", show_default=True,
              help="Whose wording the conclusions are given in.")
@click.option("--facility", "facility_file", type=click.Path(dir_okay=False), default=None,
              help="FHIR input: the facility's LSC per site, optionally keyed by scanner id.")
@kb_option
def explain(case, code, why_not, fmt, audience, facility_file, kb_root):
    """Explain conclusion CODE for the patient CASE (a YAML or JSON file, or a FHIR R4 Bundle: its
    inputs are then named by their FHIR paths).

    Why: the rule that drew it, each condition it matched with the actual values against the
    thresholds, the earlier conclusions and derived facts it rested on, the input fields they came
    from, and the cited source passages. A CODE that was not concluded gets its why-not.
    """
    from bmdkb.engine.api import Evaluator, evaluate_bundle, explainer, is_fhir_bundle, read_case, read_facility
    from bmdkb.cli.render import explanation as explain_render
    from bmdkb.cli.render import result as render

    kb = load_kb(kb_root)
    explainer.check_code(kb, code)
    evaluator = Evaluator(kb)
    data = read_case(case, case)
    if is_fhir_bundle(data):
        facility = read_facility(kb, facility_file) if facility_file else None
        evaluation = evaluate_bundle(evaluator, data, case, facility, facility_file=facility_file or "--facility")
    else:
        evaluation = evaluator.evaluate(data, case)
    doc = explainer.explain(kb, evaluation, code, why_not=why_not, statuses=evaluator.statuses)
    if fmt == "json":
        click.echo(render.to_json(doc), nl=False)
    elif fmt == "markdown":
        click.echo(explain_render.markdown(doc, audience), nl=False)
    else:
        click.echo(explain_render.text(doc, audience), nl=False)
