"""The `bmdkb` command."""
from __future__ import annotations

import datetime as dt
import os
import sys

import click

from bmdkb.engine.api import exitstatus
from bmdkb.engine.api import BmdkbError

from bmdkb.cli.render import escape

from bmdkb.cli.render import result as render
from bmdkb.cli.options import decided_status, kb_option, load_kb


class _Group(click.Group):
    """Maps errors to the exit statuses of engine/exitstatus.py: 2 for bad input or a bad
    knowledge base (the message names file and field), 1 for a program defect, and the status
    the command decided (findings stay 3) when the reader of its output went away."""

    def invoke(self, ctx):
        try:
            value = super().invoke(ctx)
            sys.stdout.flush()  # a broken pipe shows here, while the status can still be chosen
            return value
        except BmdkbError as exc:
            for line in str(exc).splitlines():
                click.echo(f"Error: {escape.text(line)}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader went away (`| head`): stop, keeping the status already decided
            _silence_stdout()
            ctx.exit(decided_status(ctx))
        except Exception as exc:  # a defect: short message, no traceback dump
            click.echo(f"bmdkb: internal error: {type(exc).__name__}: {escape.text(str(exc))}", err=True)
            click.echo("This is a defect of bmdkb; please report it with the command you ran.", err=True)
            ctx.exit(exitstatus.DEFECT)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail (and turn the status into 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's stream)
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bmdkb")
def cli():
    """bmdkb: cited, governed rules for interpreting serial DXA results.

    Evaluate a patient case against the knowledge base; every conclusion carries the rule that
    drew it, the facts it rested on and the source passage it comes from.
    """


@cli.command(epilog=exitstatus.epilog("evaluate"))
@click.argument("cases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--approved-only", is_flag=True, help="Drop conclusions that rest on content not yet approved.")
@click.option("--explain", "with_why", is_flag=True, help="Add each conclusion's short why.")
@click.option("--release", "release_version", metavar="VERSION", default=None,
              help="Pin to this release: refuse unless every content file matches its release manifest.")
@kb_option
def evaluate(cases, fmt, approved_only, with_why, release_version, kb_root):
    """Evaluate one or more patient CASES (YAML or JSON files).

    Nothing is printed unless every case evaluates: a bad case stops the run with exit status 2.
    """
    from bmdkb.engine.api import read_case
    from bmdkb.engine.api import Evaluator
    from bmdkb.engine.api import verify_release

    kb = load_kb(kb_root)
    verify_release(kb, release_version)
    evaluator = Evaluator(kb)
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
            from bmdkb.engine.api import short_why
            why = lambda c, e=e: short_why(kb, e, c["code"])  # noqa: E731
        pieces.append(renderer(e.result, kb, explain=why))
    click.echo("\n".join(pieces), nl=False)


@cli.command(epilog=exitstatus.epilog("validate"))
@click.argument("cases", nargs=-1, type=click.Path(dir_okay=False))
@kb_option
def validate(cases, kb_root):
    """Check the knowledge base and, if given, patient CASES; list every problem with file and field."""
    from bmdkb.engine.api import adapter_for, read_case

    problems, kb = [], None
    try:
        kb = load_kb(kb_root)
        click.echo(f"knowledge base {kb.meta['name']} {kb.release}: {len(kb.rules)} rules, "
                   f"{sum(len(r.citations) for r in kb.rules.values())} citations verified")
    except BmdkbError as exc:
        problems.extend(exc.problems)
    # the knowledge base's adapter; the default one when the knowledge base did not load
    adapter = adapter_for(kb)
    for path in cases:
        try:
            adapter.validate_case(read_case(path, path), path, dt.date.today())
            click.echo(f"{path}: valid")
        except BmdkbError as exc:
            problems.extend(exc.problems)
    if problems:
        for problem in problems:
            click.echo(f"Error: {escape.text(problem)}", err=True)
        sys.exit(exitstatus.BAD_INPUT)


# Command groups kept in their own modules (one job each).
# explain: cli/explain.py
# review: cli/review.py
# lint, test, release, diff: cli/authoring.py
# batch: cli/batch.py
from bmdkb.cli.review import review  # noqa: E402
cli.add_command(review)
from bmdkb.cli.explain import explain  # noqa: E402
cli.add_command(explain)
from bmdkb.cli.authoring import diff, lint, release, test_command  # noqa: E402
for _command in (lint, test_command, release, diff):
    cli.add_command(_command)
from bmdkb.cli.batch import batch  # noqa: E402
cli.add_command(batch)


def main():
    try:
        cli(prog_name="bmdkb")
    except SystemExit as exc:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # output cut short after the status was decided: keep that status
            _silence_stdout()
        raise exc


if __name__ == "__main__":
    main()
