"""The case pipeline: validate -> derive facts -> run rules -> result (engine/run/document.py)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bmdkb.engine import adapters
from bmdkb.engine.review import governance
from bmdkb.engine.run import document, engines
from bmdkb.engine.run.results import build_result


@dataclass
class Evaluation:
    """Everything one case produced; explain and renderers read from it.

    ``document`` is the typed result; ``result`` is its JSON document (document.to_dict),
    made on first use and kept."""

    case: dict
    file: str
    facts: list        # input and adapter-derived facts
    firings: list
    asserted: list     # facts asserted by rules (conclusions included)
    document: document.Result
    _result: dict | None = field(default=None, repr=False, compare=False)

    @property
    def result(self) -> dict:
        """The result document of the contract, as ``evaluate --format json`` prints it."""
        if self._result is None:
            self._result = document.to_dict(self.document)
        return self._result


class Evaluator:
    """A knowledge base compiled once (for the rule engine ``engine`` names: durable or clips),
    evaluating any number of cases in isolation."""

    def __init__(self, kb, now: dt.datetime | None = None, engine: str = engines.DEFAULT):
        self.kb = kb
        self.now = now
        self.engine = engine   # the rule engine's name (engine/run/engines.py)
        self.statuses = governance.statuses(kb, now)
        self.runtime = engines.runtime(kb, engine)
        self.adapter = adapters.for_kb(kb)   # the case adapter kb.yaml names

    def evaluate(self, case: dict, file: str = "<case>", approved_only: bool = False,
                 today: dt.date | None = None) -> Evaluation:
        """Evaluate one input case (a mapping as read from its file; ``file`` names it in errors).

        Raises CaseError (exit status 2) when the case breaks the case contract. ``today`` is the
        day scan dates must not pass (default: the evaluator's clock, else the real date); with
        ``approved_only`` conclusions resting on unapproved content are withheld."""
        today = today or (self.now.date() if self.now else dt.date.today())
        self.adapter.validate_case(case, file, today)
        facts = self.adapter.case_to_facts(case, self.kb.domain_data)
        firings, asserted = self.runtime.run(facts)
        result = build_result(self.kb, case["case_id"], facts, firings, asserted, self.statuses, approved_only)
        return Evaluation(case, file, facts, firings, asserted, result)
