"""`bmdkb test`: run the rule tests, with per-rule results and coverage."""
from __future__ import annotations

import click

from bmdkb.engine.api import exitstatus
from bmdkb.cli.options import decide, echo_json, engine_option, finish, kb_option, load_kb, root_path


@click.command("test", epilog=exitstatus.epilog("test"))
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--coverage", is_flag=True, help="Show per-rule results and coverage.")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="Fail when rule coverage (percent) is below this.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="List every case, not only failures.")
@engine_option
@click.option("--engines", "engine_list", metavar="all|NAME,NAME", default=None,
              help="Also run every case on these rule engines (all, or names separated by commas): a case "
                   "where one differs from --engine's run in firings, facts or result fails.")
@kb_option
def test_command(paths, coverage, threshold, fmt, verbose, engine, engine_list, kb_root):
    """Run the rule tests (all, or the test files, rule files or folders in PATHS).

    A rule is covered when it fired in at least one case and was absent in at least one; with
    PATHS, coverage counts the rules whose tests were selected.
    """
    from bmdkb.engine.api import rule_engines, rule_tests   # lazy: start-up time
    from bmdkb.cli.render import ruletests as render

    chosen = [engine] + [n for n in rule_engines.names(engine_list) if n != engine] if engine_list else [engine]
    root = root_path(kb_root)
    kb = load_kb(root=root)
    files, run = rule_tests.run_selected(kb, root, paths, engine_names=chosen)
    ok = run.ok(threshold)
    status = decide(exitstatus.OK if ok else exitstatus.FINDINGS)
    if fmt == "json":
        echo_json(render.json_document(kb, run, threshold, ok))
    else:
        for line in render.text_lines(kb, run, files, coverage, threshold, verbose):
            click.echo(line)
    finish(status)
