"""Authoring commands: lint, test, release, diff (the loop rule authors and reviewers run)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from bmdkb.engine.common import exitstatus

from bmdkb.engine.kb import root as kbroot

from bmdkb.cli.options import decide, finish, kb_option, root_path


def _root(kb_root, write: bool = False) -> Path:
    return root_path(kb_root, write=write)


def _json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))


# ---------------------------------------------------------------- lint


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
    from bmdkb.engine.authoring.lint import CHECKS, SEVERITIES, failing, lint as run_lint

    if list_checks:
        if fmt == "json":
            _json([{"check": c.id, "severity": c.severity, "summary": c.summary} for c in CHECKS.values()])
        else:
            for c in sorted(CHECKS.values(), key=lambda c: (SEVERITIES.index(c.severity), c.id)):
                click.echo(f"{c.id:38} {c.severity:8} {c.summary}")
        return
    contract = None
    if contract_file:
        from bmdkb.engine.common.errors import BmdkbError, Problem
        try:
            contract = json.loads(Path(contract_file).read_text(encoding="utf-8"))["codes"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BmdkbError(Problem(contract_file, "codes", f"not a conclusion-code list: {exc}")) from None
    findings = run_lint(_root(kb_root), contract)
    bad = failing(findings, fail_on)
    status = decide(exitstatus.FINDINGS if bad else exitstatus.OK)
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    if fmt == "json":
        _json({"findings": [f.to_dict() for f in findings], "counts": counts, "fail_on": fail_on, "passed": not bad})
    else:
        for finding in findings:
            click.echo(str(finding))
        verdict = "failed" if bad else "passed"
        click.echo(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {counts['error']} error(s), "
                   f"{counts['warning']} warning(s), {counts['info']} info; lint {verdict} at --fail-on {fail_on}")
    finish(status)


# ---------------------------------------------------------------- test


@click.command("test", epilog=exitstatus.epilog("test"))
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--coverage", is_flag=True, help="Show per-rule results and coverage.")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="Fail when rule coverage (percent) is below this.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="List every case, not only failures.")
@kb_option
def test_command(paths, coverage, threshold, fmt, verbose, kb_root):
    """Run the rule tests (all, or the test files, rule files or folders in PATHS).

    A rule is covered when it fired in at least one case and was absent in at least one; with
    PATHS, coverage counts the rules whose tests were selected.
    """
    from bmdkb.engine.authoring import rule_tests

    from bmdkb.engine.kb import cache as kbcache

    root = _root(kb_root)
    kb = kbcache.load(root)
    files = rule_tests.load_test_files(root, paths or None, kb=kb)
    scope = sorted({f.rule for f in files}, key=list(kb.rules).index) if paths else None
    run = rule_tests.run(kb, files, rules=scope)
    ok = run.ok(threshold)
    status = decide(exitstatus.OK if ok else exitstatus.FINDINGS)
    if fmt == "json":
        _json(_test_json(kb, run, threshold, ok))
    else:
        _test_text(kb, run, files, coverage, threshold, verbose)
    finish(status)


def _failure_lines(kb, outcome) -> list[str]:
    from bmdkb.engine.authoring import rule_tests

    lines = []
    for failure in outcome.failures:
        expected_support = outcome.test.expect.get("support", {}).get(failure.code)
        if failure.kind == "missing":
            shown = f" ({expected_support})" if expected_support else ""
            lines.append(f"  - {failure.code}{shown}   expected, not concluded")
        elif failure.kind == "unexpected":
            lines.append(f"  + {failure.code} ({outcome.conclusions[failure.code]})   concluded, expected absent")
        elif failure.kind == "support":
            lines.append(f"  - {failure.code} ({expected_support})   expected")
            lines.append(f"  + {failure.code} ({outcome.conclusions[failure.code]})   concluded")
        else:
            lines.append(f"  ~ {failure.message}")
        if failure.kind in ("missing", "support"):
            reasons = rule_tests.why_not(kb, outcome.evaluation, failure.code,
                                         expected_support if failure.kind == "support" else None)
            if reasons:
                lines.append(f"    why not {failure.code}:")
                lines.extend(f"      {r}" for r in reasons)
    return lines


def _test_text(kb, run, files, coverage, threshold, verbose) -> None:
    for outcome in run.outcomes:
        if outcome.failures:
            click.echo(f"FAIL {outcome.test.label}")
            for line in _failure_lines(kb, outcome):
                click.echo(line)
        elif verbose:
            status = f"skip ({outcome.test.skip})" if outcome.skipped else "ok"
            click.echo(f"{status:4} {outcome.test.label}")
    if coverage:
        width = max([len(r) for r in run.rules] + [4])
        click.echo("")
        click.echo(f"{'rule':{width}}  as expected  missed  unexpected  fired in  absent in  covered")
        for rule_id, r in run.rules.items():
            own = f"{len(r.as_expected):11}  {len(r.missed):6}  {len(r.unexpected):10}" if r.has_tests \
                else f"{'(no tests)':>11}  {'':6}  {'':10}"
            click.echo(f"{rule_id:{width}}  {own}  {len(r.fired_in):8}  {len(r.absent_in):9}  "
                       f"{'yes' if r.covered else 'NO'}")
    total = len(run.outcomes)
    failed = len(run.failed)
    skipped = sum(o.skipped for o in run.outcomes)
    click.echo(f"{total} case{'s' if total != 1 else ''} in {len(files)} test file{'s' if len(files) != 1 else ''}: "
               f"{total - failed - skipped} passed, {failed} failed, {skipped} skipped")
    cov = run.coverage()
    if coverage or threshold is not None:
        click.echo(f"coverage: {len(cov.covered)} of {cov.total} rules fired in at least one case and were absent "
                   f"in at least one ({cov.percent:.1f}%)")
        if cov.uncovered:
            click.echo(f"not covered: {', '.join(cov.uncovered)}")
    if threshold is not None and cov.percent < threshold:
        click.echo(f"coverage {cov.percent:.1f}% is below the threshold {threshold:g}%")


def _test_json(kb, run, threshold, ok) -> dict:
    from bmdkb.engine.authoring import rule_tests
    from bmdkb.engine.kb.identity import TEST_REPORT_KEYS, identity

    cases = []
    for o in run.outcomes:
        entry = {"file": o.test.file, "index": o.test.index, "name": o.test.name, "rule": o.test.rule,
                 "status": "skipped" if o.skipped else ("passed" if o.passed else "failed")}
        if not o.skipped:
            entry["conclusions"] = o.conclusions
            entry["fired"] = sorted(o.fired, key=list(kb.rules).index)
            entry["failures"] = [
                {"kind": f.kind, "code": f.code, "message": f.message,
                 **({"why_not": rule_tests.why_not(kb, o.evaluation, f.code,
                                                   o.test.expect.get("support", {}).get(f.code) if f.kind == "support" else None)}
                    if f.kind in ("missing", "support") else {})}
                for f in o.failures]
        cases.append(entry)
    cov = run.coverage()
    return {
        "knowledge_base": identity(kb, TEST_REPORT_KEYS),
        "today": rule_tests.TEST_TODAY.isoformat(),
        "cases": cases,
        "rules": [{"id": r.rule, "as_expected": r.as_expected, "missed": r.missed, "unexpected": r.unexpected,
                   "fired_in": len(r.fired_in), "absent_in": len(r.absent_in), "covered": r.covered}
                  for r in run.rules.values()],
        "coverage": {"covered": len(cov.covered), "total": cov.total, "percent": round(cov.percent, 1),
                     "uncovered": cov.uncovered},
        "threshold": threshold,
        "passed": ok,
    }


# ---------------------------------------------------------------- release


@click.command(epilog=exitstatus.epilog("release"))
@click.argument("version")
@click.option("--note", default=None, help="A sentence for the changelog entry.")
@kb_option
def release(version, note, kb_root):
    """Make release VERSION: update kb.yaml, write knowledge/release-manifest.yaml and a changelog entry.

    Refused when VERSION is not greater than the current release or lint reports errors.
    """
    from bmdkb.engine.authoring.release import CHANGELOG, MANIFEST, make_release

    root = _root(kb_root, write=True)
    for written in ("knowledge/kb.yaml", MANIFEST, CHANGELOG):
        kbroot.write_target(root, written)
    made = make_release(root, version, note)
    click.echo(made.entry, nl=False)
    click.echo(f"wrote {MANIFEST} ({len(made.manifest['files'])} files, {len(made.manifest['rules'])} rules) "
               f"and {CHANGELOG}; digest {made.manifest['knowledge_base']['digest']}")


# ---------------------------------------------------------------- diff


@click.command(epilog=exitstatus.epilog("diff"))
@click.argument("old")
@click.argument("new")
@click.option("--repo", type=click.Path(file_okay=False), default=None,
              help="Git repository for revisions (default: the --kb root, else the shipped one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@kb_option
def diff(old, new, repo, fmt, kb_root):
    """Compare knowledge bases OLD and NEW (each a knowledge-base root or a git revision).

    Lists rules added, removed and changed field by field, and the test cases whose
    conclusions change between the two.
    """
    from bmdkb.engine.authoring import diff as kbdiff

    repo = Path(repo) if repo else _root(kb_root)
    with kbdiff.open_side(old, repo, "OLD") as (old_root, old_label), \
            kbdiff.open_side(new, repo, "NEW") as (new_root, new_label):
        result = kbdiff.diff(old_root, new_root, old_label, new_label)
    if fmt == "json":
        _json(result.to_dict())
        return
    for line in render_diff(result):
        click.echo(line)


def _show(value) -> str:
    from bmdkb.engine.authoring.diff import MISSING

    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 90 else text[:87] + "..."


def render_diff(d) -> list[str]:
    lines = [f"OLD {d.old['label']}: release {d.old['release']}, {d.old['digest']}",
             f"NEW {d.new['label']}: release {d.new['release']}, {d.new['digest']}", ""]
    lines.append(f"Rules added ({len(d.added)})" + (":" if d.added else ""))
    lines.extend(f"  + {r}" for r in d.added)
    lines.append(f"Rules removed ({len(d.removed)})" + (":" if d.removed else ""))
    lines.extend(f"  - {r}" for r in d.removed)
    lines.append(f"Rules changed ({len(d.changed)})" + (":" if d.changed else ""))
    for rule_id, change in d.changed.items():
        old_v, new_v = change["version"]
        version = f"version {old_v} -> {new_v}" if old_v != new_v else f"version {new_v}, NOT bumped"
        lines.append(f"  ~ {rule_id} ({version})")
        lines.extend(f"      {path}: {_show(o)} -> {_show(n)}" for path, o, n in change["fields"] if path != "version")
    if d.other:
        lines.append(f"Other content changed ({len(d.other)}):")
        for item, fields in d.other.items():
            lines.append(f"  ~ {item}")
            lines.extend(f"      {path}: {_show(o)} -> {_show(n)}" for path, o, n in fields)
    lines.append("")
    lines.append(f"Behaviour: {len(d.behaviour)} of {d.cases_compared} test cases conclude differently"
                 + (":" if d.behaviour else ""))
    tally = {}
    for c in d.behaviour:
        for sign, changed in (("-", c.removed), ("+", c.added)):
            for code, support in changed:
                tally[(sign, code, support)] = tally.get((sign, code, support), 0) + 1
    for (sign, code, support), count in sorted(tally.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"  {sign} {code} ({support}) in {count} case{'s' if count != 1 else ''}")
    for c in d.behaviour:
        lines.append(f"  {c.file} :: {c.name}")
        lines.extend(f"    - {code} ({support})" for code, support in c.removed)
        lines.extend(f"    + {code} ({support})" for code, support in c.added)
    return lines
