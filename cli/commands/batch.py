"""`bmdkb batch`: evaluate a whole registry of cases, streaming, on all cores or on Dask."""
from __future__ import annotations

import sys

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import engine_option, finish, kb_option, load_kb
from bmdkb.cli.render import escape


@click.command(epilog=exitstatus.epilog("batch"))
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="JSON Lines file: one result document (or error line) per case, in input order "
                   "(a folder for --output-format parquet).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per core).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run after the last complete line of OUTPUT.")
@click.option("--dask", "dask_address", metavar="ADDRESS", default=None,
              help="Run on the Dask cluster whose scheduler is at ADDRESS instead of local processes.")
@click.option("--approved-only", is_flag=True, help="Drop conclusions that rest on content not yet approved.")
@click.option("--facility", "facility_file", type=click.Path(dir_okay=False), default=None,
              help="FHIR input: the facility's LSC per site, optionally keyed by scanner id.")
@click.option("--output-format", "output_format", type=click.Choice(["full", "compact", "parquet"]), default="full",
              show_default=True, help="full: each result document; compact: about 1 KB per case "
                                      "(schemas/compact-result.schema.json); parquet: a folder of Parquet files, "
                                      "one row per case and conclusion (needs pyarrow).")
@engine_option
@kb_option
def batch(input_path, output, workers, resume, dask_address, approved_only, facility_file, output_format, engine,
          kb_root):
    """Evaluate every case in INPUT: a JSON Lines file (one case per line) or a folder of case files;
    a case may be a FHIR R4 Bundle (one per line, or one per file).

    OUTPUT gets one line per case, in input order: the result document `evaluate --format json`
    gives, or an error line {"case_index", "case_id", "source", "error": {"kind", "message",
    "problems"}} with the message `evaluate` prints. A bad case never stops the batch. Counts by
    pattern, by conclusion code and of errors go to OUTPUT.summary.json; what produced the run
    (mode, knowledge base, ledger head) to OUTPUT.run.json, which --resume checks. OUTPUT may not
    be the input or inside an input folder, and its folder must exist.
    """
    from bmdkb.engine.api import engine_batch   # lazy: start-up time

    kb = load_kb(kb_root)
    facility = None
    if facility_file:
        from bmdkb.engine.api import read_facility
        facility = read_facility(kb, facility_file)
    bar = None
    progress = None
    if sys.stderr.isatty():
        total = engine_batch.count_items(input_path)
        bar = click.progressbar(length=total, label="evaluating", file=sys.stderr, show_pos=True, show_eta=True)
        bar.__enter__()
        progress = bar.update
    try:
        summary = engine_batch.run(kb, input_path, output, workers=workers, resume=resume,
                                   approved_only=approved_only, dask_address=dask_address, progress=progress,
                                   facility=facility, facility_file=facility_file or "--facility",
                                   engine=engine, output_format=output_format)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {output} holds the cases done so far; run again with --resume to continue",
                   err=True)
        finish(exitstatus.INTERRUPTED)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(f"{summary['cases']} cases: {summary['results']} evaluated, {summary['errors']} errors "
               f"-> {output} (summary: {engine_batch.summary_path(output)})", err=True)
    for error in summary["first_errors"]:
        click.echo(f"Error: case {error['case_index']}: {escape.text(error['message'])}", err=True)
    if summary["errors"] > len(summary["first_errors"]):
        click.echo(f"... and {summary['errors'] - len(summary['first_errors'])} more errors in {output}", err=True)
    if summary["defects"]:
        finish(exitstatus.DEFECT)
    if summary["input_errors"]:
        finish(exitstatus.BAD_INPUT)
