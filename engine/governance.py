"""Editorial status of each rule. Placeholder: every rule is `submitted` until the
review ledger lands; the interface (statuses -> RuleStatus per rule id) is final."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

PENDING = "pending editorial review"


@dataclass
class RuleStatus:
    status: str                 # draft | submitted | under_review | changes_requested | approved | retired
    approved: bool              # a valid approval bound to the current content digest
    caution: str | None = PENDING
    detail: dict = field(default_factory=dict)


def statuses(kb, now: dt.datetime | None = None) -> dict[str, RuleStatus]:
    return {rule_id: RuleStatus("submitted", False) for rule_id in kb.rules}
