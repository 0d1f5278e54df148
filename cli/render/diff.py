"""Renderer for `bmdkb diff`: a knowledge-base diff as text."""
from __future__ import annotations

import json


def _show(value) -> str:
    """A changed value in one line: JSON, cut at 90 characters; a missing one as (absent)."""
    from bmdkb.engine.api import kbdiff

    if value is kbdiff.MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 90 else text[:87] + "..."


def lines(d) -> list[str]:
    """The text report of a knowledge-base diff: rules added, removed and changed, other content
    changed, and the test cases that conclude differently."""
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
