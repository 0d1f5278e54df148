"""`bmdkb fhir`: FHIR R4 helpers. `fhir to-case BUNDLE` prints the contract case a Bundle maps to,
with the FHIR path of every field, what was not mapped and the notes, so the mapping can be checked."""
from __future__ import annotations

import json

import click
import yaml

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import kb_option, load_kb


@click.group()
def fhir():
    """FHIR R4 input: see how a Bundle is read."""


@fhir.command("to-case", epilog=exitstatus.epilog("fhir to-case"))
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--facility", "facility_file", type=click.Path(dir_okay=False), default=None,
              help="The facility's LSC per site (the case's facility block), optionally keyed by scanner id.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="yaml: the case, then the FHIR paths, unmapped codes and notes as comments; json: one document "
                   "{case, paths, unmapped, notes}.")
@kb_option
def to_case(bundle, facility_file, fmt, kb_root):
    """Print the contract case BUNDLE (a FHIR R4 Bundle, JSON) maps to.

    Bad input (not valid FHIR R4, a unit the knowledge base does not convert, two results for one
    site and date that disagree) prints nothing and exits 2, naming the FHIR path.
    """
    from bmdkb.engine.api import CaseError, Problem, case_from_bundle, is_fhir_bundle, read_case, read_facility

    kb = load_kb(kb_root)
    data = read_case(bundle, bundle)
    if not is_fhir_bundle(data):
        raise CaseError(Problem(bundle, "resourceType", "not a FHIR Bundle"))
    facility = read_facility(kb, facility_file) if facility_file else None
    mapped = case_from_bundle(data, bundle, kb, facility, facility_file or "--facility")
    if fmt == "json":
        click.echo(json.dumps({"case": mapped.case, "paths": mapped.paths, "unmapped": mapped.unmapped,
                               "notes": mapped.notes}, indent=2, ensure_ascii=False))
        return
    lines = [yaml.safe_dump(mapped.case, sort_keys=False, allow_unicode=True).rstrip("\n"), "",
             "# Read from (case field <- FHIR path):"]
    lines += [f"#   {case_path} <- {path}" for case_path, path in mapped.paths.items()]
    if mapped.unmapped:
        lines += ["# Not mapped:"] + [f"#   {u}" for u in mapped.unmapped]
    if mapped.notes:
        lines += ["# Notes:"] + [f"#   {n}" for n in mapped.notes]
    click.echo("\n".join(lines))
