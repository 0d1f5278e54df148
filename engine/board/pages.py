"""The data each page shows, read from the engine exactly as the command line reads it: the
dashboard (``governance.dashboard``, what `bmdkb review status` prints), a rule's status
(``governance.statuses``), its rule tests (``rule_tests``), its ledger entries (``governance.read_ledger``: chain and signatures checked),
and the diff to the version last approved (``baseline``). Nothing here decides anything."""
from __future__ import annotations

from bmdkb.engine.authoring import diff as kbdiff
from bmdkb.engine.authoring import rule_tests
from bmdkb.engine.board import baseline, conditions, passages
from bmdkb.engine.kb import citations as kb_citations
from bmdkb.engine.review import governance

# (key, heading, which rows) for the queue, in the order a board works through it.
SECTIONS = (
    ("submitted", "Submitted: waiting for a reviewer to start", lambda r, b: r["status"] == "submitted"),
    ("under_review", "Under review", lambda r, b: r["status"] == "under_review"),
    ("changes_requested", "Sent back to the author", lambda r, b: r["status"] == "changes_requested"),
    ("lapsing", "Approvals lapsing soon", lambda r, b: r["id"] in b["lapsing"]),
    ("changed", "Changed since approval (no longer approved)", lambda r, b: r["status"] == governance.CHANGED),
    ("lapsed", "Approvals lapsed (pending review again)", lambda r, b: r["status"] == governance.LAPSED),
    ("approved", "Approved", lambda r, b: r["status"] == "approved" and r["id"] not in b["lapsing"]),
    ("draft", "Drafts (not yet submitted)", lambda r, b: r["status"] == "draft"),
    ("retired", "Retired", lambda r, b: r["status"] == "retired"),
    ("unverified", "Status unknown: the ledger fails verification", lambda r, b: r["status"] == governance.UNVERIFIED),
)
# Which decision forms a rule page offers, by status. Only the lifecycle and the member's roles
# choose the forms; whether this member may decide about this rule (its author, an approval
# already given, a missing declaration) is governance's to refuse, with its own message.
FORMS = {
    "submitted": ("start", "request-changes"),
    "under_review": ("approve", "request-changes"),
    "approved": ("request-changes",),
    governance.CHANGED: ("request-changes",),
    governance.LAPSED: ("request-changes",),
}


def queue(kb, now=None) -> dict:
    """The queue page: the dashboard's data, rules grouped into the board's sections."""
    board = governance.dashboard(kb, now)
    for row in board["rules"]:
        row["title"] = kb.rules[row["id"]].title
    rows = sorted(board["rules"], key=lambda r: (r["since"] or "", r["id"]))
    sections = []
    for key, heading, wanted in SECTIONS:
        if key == "lapsing":
            chosen = [next(r for r in rows if r["id"] == i) for i in board["lapsing"]]
        else:
            chosen = [r for r in rows if wanted(r, board)]
        if chosen:
            sections.append({"key": key, "heading": heading, "rows": chosen})
    return {"board": board, "sections": sections}


def _parameter(kb, name: str) -> dict:
    entry = kb.parameters[name]
    prov = entry.get("provenance", {})
    local = prov.get("local_policy")
    return {"id": name, "value": entry["value"], "unit": entry.get("unit", ""),
            "description": entry.get("description", ""),
            "origin": "cited" if prov.get("citations") else "local policy" if local else "not stated",
            "local_policy": bool(local), "owner": (local or {}).get("owner"),
            "rationale": (local or {}).get("rationale"),
            "citations": [_citation(kb, c) for c in prov.get("citations", [])]}


def _citation(kb, raw) -> dict:
    c = raw.to_dict() if hasattr(raw, "to_dict") else dict(raw)
    source = kb.sources.get(c["source"])
    found = passages.passage(source.text, c["quote"], c["section"]) if source else \
        passages.Passage("", c["quote"], "", False)
    return {**c, "references": c.get("references", []), "title": source.meta.get("title") if source else None,
            "verified": kb_citations.verifies(kb, c), "passage": found}


def _tests(kb, rule) -> dict:
    files = [f for f in rule_tests.load_test_files(kb.root, kb=kb) if f.rule == rule.id]
    run = rule_tests.run(kb, files, rules=[rule.id])
    cases = [{"name": o.test.name, "file": o.test.file, "skipped": o.skipped, "skip": o.test.skip,
              "passed": o.passed, "failures": [f.message for f in o.failures],
              "expect": o.test.expect} for o in run.outcomes]
    result = run.rules[rule.id]
    return {"file": files[0].file if files else None, "cases": cases,
            "passed": sum(1 for c in cases if c["passed"]), "failed": sum(1 for c in cases if c["failures"]),
            "covered": result.covered}


def rule(kb, rule_id: str, member_id: str, now=None) -> dict:
    """The rule page: statements, conditions in words, citations in their source, parameters and
    facts (local policy marked), rule tests and their results, the decision history, the forms."""
    r = kb.rules[rule_id]
    status = governance.statuses(kb, now)[rule_id]
    reading = governance.read_ledger(kb)
    roster = governance.roster_in_force(kb, reading)
    forms = [a for a in FORMS.get(status.status, ()) if roster.may(a, member_id)]
    approved = governance.last_approved(kb, rule_id)
    return {
        "rule": r, "status": status, "label": status.detail.get("label", status.status),
        "outcome": conditions.outcome(r), "conditions": conditions.describe(kb, r),
        "citations": [_citation(kb, c) for c in r.citations],
        "parameters": [_parameter(kb, p) for p in r.parameters],
        "facts": [{"id": f, **kb.facts[f], "citations": [_citation(kb, c) for c in kb.facts[f].get("citations", [])]}
                  for f in r.uses],
        "tests": _tests(kb, r),
        "history": [e for e in reading.entries if e["rule"] == rule_id],
        "ledger_ok": reading.ok, "ledger_problem": reading.broken.message if reading.broken else None,
        "forms": forms, "approved": approved,
        "changed": approved is not None and approved["digest"] != r.digest,
        "review_period": governance.policy(kb)["review_period_months"],
    }


def _shown(value) -> str | None:
    """A diffed value as the page shows it (None for an absent side)."""
    if value is kbdiff.MISSING:
        return None
    return " ".join(str(value).split()) if isinstance(value, str) else repr(value) if value is None else str(value)


def _fields(changes: list) -> list[dict]:
    return [{"field": path, "old": _shown(old), "new": _shown(new)} for path, old, new in changes]


def changes(kb, rule_id: str) -> dict:
    """The diff page: what changed since the version of the rule last approved."""
    r = kb.rules[rule_id]
    found = baseline.since_approved(kb, rule_id, governance.last_approved(kb, rule_id))
    d = found.diff
    data = {"rule": r, "baseline": found, "fields": [], "other": {}, "added": [], "removed": [], "others": {},
            "behaviour": [], "cases_compared": 0}
    if d is not None:
        data["fields"] = _fields(d.changed.get(rule_id, {}).get("fields", []))
        data["version"] = d.changed.get(rule_id, {}).get("version")
        uses = {f"parameter {p}" for p in r.parameters} | {f"fact {f}" for f in r.uses}
        data["other"] = {k: _fields(v) for k, v in d.other.items() if k in uses}
        data["others"] = {k: _fields(v["fields"]) for k, v in d.changed.items() if k != rule_id}
        data["other_content"] = {k: _fields(v) for k, v in d.other.items() if k not in uses}
        data["added"], data["removed"] = d.added, d.removed
        code = r.concludes
        data["behaviour"] = [{"change": c, "involves": bool(code) and any(k == code for k, _ in c.added + c.removed)}
                             for c in d.behaviour]
        data["cases_compared"] = d.cases_compared
    return data
