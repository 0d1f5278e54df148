"""`bmdkb lint`: problems a rule author can fix, each with a check id and severity."""
from __future__ import annotations

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import decide, echo_json, finish, kb_option, root_path


@click.command(epilog=exitstatus.epilog("lint"))
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
              help="Exit 3 when a finding of this severity or worse is reported.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--checks", "list_checks", is_flag=True, help="List the checks (id, severity, what it finds) and exit.")
@click.option("--contract", "contract_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Conclusion codes the knowledge base promises (JSON like schemas/conclusion-codes.json). "
                   "Default: the contract's 25 codes.")
@kb_option
def lint(fail_on, fmt, list_checks, contract_file, kb_root):
    """Check the knowledge base for problems a rule author can fix, each with a check id and severity.

    Works on a knowledge base that does not load.
    """
    from bmdkb.engine.api import engine_lint, read_contract   # lazy: start-up time

    checks, severities = engine_lint.CHECKS, engine_lint.SEVERITIES
    if list_checks:
        if fmt == "json":
            echo_json([{"check": c.id, "severity": c.severity, "summary": c.summary} for c in checks.values()])
        else:
            for c in sorted(checks.values(), key=lambda c: (severities.index(c.severity), c.id)):
                click.echo(f"{c.id:38} {c.severity:8} {c.summary}")
        return
    contract = read_contract(contract_file) if contract_file else None
    findings = engine_lint.lint(root_path(kb_root), contract)
    bad = engine_lint.failing(findings, fail_on)
    status = decide(exitstatus.FINDINGS if bad else exitstatus.OK)
    counts = {s: sum(f.severity == s for f in findings) for s in severities}
    if fmt == "json":
        echo_json({"findings": [f.to_dict() for f in findings], "counts": counts, "fail_on": fail_on,
                   "passed": not bad})
    else:
        for finding in findings:
            click.echo(str(finding))
        verdict = "failed" if bad else "passed"
        click.echo(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {counts['error']} error(s), "
                   f"{counts['warning']} warning(s), {counts['info']} info; lint {verdict} at --fail-on {fail_on}")
    finish(status)
