"""Renderers for a rule-test run (`bmdkb test`): the text report and the JSON document."""
from __future__ import annotations


def failure_lines(kb, outcome) -> list[str]:
    """One case's failures, each missing conclusion with its short why-not."""
    from bmdkb.engine.api import TEST_REPORT_KEYS, kb_identity, rule_tests

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


def text_lines(kb, run, files, coverage, threshold, verbose) -> list[str]:
    """The text report: failures (every case with ``verbose``), the per-rule table with
    ``coverage``, the totals, and coverage against ``threshold``."""
    out = []
    for outcome in run.outcomes:
        if outcome.failures:
            out.append(f"FAIL {outcome.test.label}")
            out.extend(failure_lines(kb, outcome))
        elif verbose:
            status = f"skip ({outcome.test.skip})" if outcome.skipped else "ok"
            out.append(f"{status:4} {outcome.test.label}")
    if coverage:
        width = max([len(r) for r in run.rules] + [4])
        out.append("")
        out.append(f"{'rule':{width}}  as expected  missed  unexpected  fired in  absent in  covered")
        for rule_id, r in run.rules.items():
            own = f"{len(r.as_expected):11}  {len(r.missed):6}  {len(r.unexpected):10}" if r.has_tests \
                else f"{'(no tests)':>11}  {'':6}  {'':10}"
            out.append(f"{rule_id:{width}}  {own}  {len(r.fired_in):8}  {len(r.absent_in):9}  "
                       f"{'yes' if r.covered else 'NO'}")
    total = len(run.outcomes)
    failed = len(run.failed)
    skipped = sum(o.skipped for o in run.outcomes)
    out.append(f"{total} case{'s' if total != 1 else ''} in {len(files)} test file{'s' if len(files) != 1 else ''}: "
               f"{total - failed - skipped} passed, {failed} failed, {skipped} skipped")
    cov = run.coverage()
    if coverage or threshold is not None:
        out.append(f"coverage: {len(cov.covered)} of {cov.total} rules fired in at least one case and were absent "
                   f"in at least one ({cov.percent:.1f}%)")
        if cov.uncovered:
            out.append(f"not covered: {', '.join(cov.uncovered)}")
    if threshold is not None and cov.percent < threshold:
        out.append(f"coverage {cov.percent:.1f}% is below the threshold {threshold:g}%")
    return out


def json_document(kb, run, threshold, ok) -> dict:
    """The `--format json` document: every case, the per-rule tally, coverage and the verdict."""
    from bmdkb.engine.api import TEST_REPORT_KEYS, kb_identity, rule_tests

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
        "knowledge_base": kb_identity(kb, TEST_REPORT_KEYS),
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
