"""`bmdkb feedback`: what clinicians did with the service's cards, from its append-only store."""
from __future__ import annotations

import click

from bmdkb.engine.api import BmdkbError, Problem, exitstatus
from bmdkb.cli.options import echo_json
from bmdkb.cli.render import escape

DEFAULT_STORE = "bmdkb-feedback.jsonl"


@click.command(epilog=exitstatus.epilog("feedback"))
@click.argument("store", required=False, default=DEFAULT_STORE, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def feedback(store, fmt):
    """Summarise the feedback in STORE (default: bmdkb-feedback.jsonl, as `serve` writes it).

    Outcomes (accepted, overridden, and the override reasons) are counted per clinical question
    (the card groups), with the knowledge-base releases the cards came from. The store holds no
    patient data and no comment text; this command only reads it.
    """
    from bmdkb.service import feedback as store_module   # lazy: start-up time

    try:
        summary = store_module.summarise(store)
    except FileNotFoundError:
        raise BmdkbError(Problem(store, "", "no such feedback store")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BmdkbError(Problem(store, "", f"cannot be read: {exc}")) from None
    if fmt == "json":
        echo_json(summary)
    else:
        click.echo(escape.lines(store_module.summary_text(summary)), nl=False)
