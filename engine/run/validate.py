"""`validate`: check a knowledge base and patient cases, collecting every problem instead of
stopping at the first, for the command to report through its one error path."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bmdkb.engine import adapters
from bmdkb.engine.run.cases import read_case
from bmdkb.engine.fhir.evaluate import is_fhir_bundle, validate_bundle
from bmdkb.engine.common.errors import BmdkbError


class ValidationFailed(BmdkbError):
    """Problems found by ``validate`` (exit status 2): every one is kept, none clipped."""

    def __init__(self, problems: list):
        super().__init__([])
        self.problems = list(problems)
        self.args = ("\n".join(str(p) for p in self.problems),)


@dataclass
class Validation:
    """What ``validate`` found: the problems, in the order found."""

    problems: list = field(default_factory=list)

    def raise_for_problems(self) -> None:
        """Raise ValidationFailed when anything was found."""
        if self.problems:
            raise ValidationFailed(self.problems)


def validate(load, cases, say) -> Validation:
    """Load the knowledge base (``load()``, which raises BmdkbError when it does not load) and
    check each case file in ``cases``; ``say`` gets a line for the knowledge base and each valid case."""
    found, kb = Validation(), None
    try:
        kb = load()
        say(f"knowledge base {kb.meta['name']} {kb.release}: {len(kb.rules)} rules, "
            f"{sum(len(r.citations) for r in kb.rules.values())} citations verified")
    except BmdkbError as exc:
        found.problems.extend(exc.problems)
    adapter = adapters.for_kb(kb)  # the knowledge base's adapter; the default one when it did not load
    for path in cases:
        try:
            data = read_case(path, path)
            if is_fhir_bundle(data) and kb is not None:   # a FHIR Bundle: checked as evaluate reads it
                mapped = validate_bundle(kb, data, path, dt.date.today())
                say(f"{path}: valid FHIR Bundle ({len(mapped.case['scans'])} scan{'' if len(mapped.case['scans']) == 1 else 's'} read, "
                    f"{len(mapped.unmapped)} resources or codes not mapped)")
                continue
            adapter.validate_case(data, path, dt.date.today())
            say(f"{path}: valid")
        except BmdkbError as exc:
            found.problems.extend(exc.problems)
    return found
