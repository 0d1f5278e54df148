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
@kb_option
def explain(case, code, why_not, fmt, audience, kb_root):
    """Explain conclusion CODE for the patient CASE (a YAML or JSON file).

    Why: the rule that drew it, each condition it matched with the actual values against the
    thresholds, the earlier conclusions and derived facts it rested on, the input fields they came
    from, and the cited source passages. A CODE that was not concluded gets its why-not.
    """
    from bmdkb.engine.api import Evaluator, explainer, read_case   # lazy: start-up time
    from bmdkb.cli.render import explanation as explain_render
    from bmdkb.cli.render import result as render

    kb = load_kb(kb_root)
    explainer.check_code(kb, code)
    evaluator = Evaluator(kb)
    evaluation = evaluator.evaluate(read_case(case, case), case)
    doc = explainer.explain(kb, evaluation, code, why_not=why_not, statuses=evaluator.statuses)
    if fmt == "json":
        click.echo(render.to_json(doc), nl=False)
    elif fmt == "markdown":
        click.echo(explain_render.markdown(doc, audience), nl=False)
    else:
        click.echo(explain_render.text(doc, audience), nl=False)
