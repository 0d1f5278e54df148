"""The case pipeline: validate -> derive facts -> run rules -> result (engine/run/document.py)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from bmdkb.engine import adapters
from bmdkb.engine.common.errors import CaseError
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
    # Input read from another document than the case (a FHIR Bundle): that document, the case
    # path -> source path map the facts' paths were rewritten with, and the result's `input` block.
    source: dict | None = field(default=None, repr=False, compare=False)
    input_paths: dict | None = field(default=None, repr=False, compare=False)
    input_info: dict | None = field(default=None, repr=False, compare=False)

    @property
    def result(self) -> dict:
        """The result document of the contract, as ``evaluate --format json`` prints it."""
        if self._result is None:
            self._result = document.to_dict(self.document)
            if self.input_info is not None:
                self._result["input"] = self.input_info
        return self._result


def source_path(path: str, input_paths: dict) -> str:
    """The source path of a case path (``scans[0].sites.total_hip.bmd_g_cm2`` ->
    ``Bundle.entry[3].resource.valueQuantity.value``); the case path itself when none is recorded."""
    return input_paths.get(path, path)


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
                 today: dt.date | None = None, input_paths: dict | None = None, source: dict | None = None,
                 input_info: dict | None = None) -> Evaluation:
        """Evaluate one input case (a mapping as read from its file; ``file`` names it in errors).

        Raises CaseError (exit status 2) when the case breaks the case contract. ``today`` is the
        day scan dates must not pass (default: the evaluator's clock, else the real date); with
        ``approved_only`` conclusions resting on unapproved content are withheld. A case mapped
        from another document (a FHIR Bundle, ``source``) gives ``input_paths`` (case path ->
        source path): input facts, and the fields of problems, then name the source's paths."""
        today = today or (self.now.date() if self.now else dt.date.today())
        try:
            self.adapter.validate_case(case, file, today)
        except CaseError as exc:
            if input_paths is None:
                raise
            raise CaseError([replace(p, field=source_path(p.field, input_paths)) for p in exc.problems]) from None
        facts = self.adapter.case_to_facts(case, self.kb.domain_data)
        if input_paths is not None:
            for fact in facts:
                if fact.paths:
                    fact.paths = {k: source_path(p, input_paths) for k, p in fact.paths.items()}
        firings, asserted = self.runtime.run(facts)
        result = build_result(self.kb, case["case_id"], facts, firings, asserted, self.statuses, approved_only)
        return Evaluation(case, file, facts, firings, asserted, result, source=source, input_paths=input_paths,
                          input_info=input_info)
