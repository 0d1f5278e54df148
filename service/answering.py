"""The CPU part of a hook call: a gathered Bundle evaluated and its cards written as JSON.

Everything a call costs beyond HTTP, the token and the gathering of data happens here, so that
it can run in the process that answers HTTP (one worker, the default) or in an evaluation worker
process (pool.py, ``--workers N``) with the same result, byte for byte.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from bmdkb.engine import api
from bmdkb.service import cards
from bmdkb.service.config import card_groups


RESOURCE_TYPES = ("Patient", "Observation", "MedicationRequest", "MedicationStatement", "Condition", "Device")


@dataclass(frozen=True)
class Answer:
    """A call's answer: the JSON body (``{"cards": [...]}``), what each card stands for (for the
    feedback store), and where the time went (seconds, for the Server-Timing header)."""

    body: bytes
    infos: tuple
    cards: int
    evaluate_seconds: float
    cards_seconds: float


class Answerer:
    """Evaluates Bundles for one knowledge base and renders their cards (one per process)."""

    EMPTY = Answer(b'{"cards":[]}', (), 0, 0.0, 0.0)   # the answer when the record holds no DXA result

    def __init__(self, config, kb, evaluator):
        self.config = config
        self.kb = kb
        self.evaluator = evaluator
        self.renderer = cards.CardRenderer(kb, card_groups(config, kb.stages), config.mode)

    def warm_up(self) -> None:
        """Once at start, so that the first clinician does not wait for it: load the FHIR models of
        every resource type the service reads and of every element they can hold, then read a
        small Bundle of them (its errors are expected)."""
        api.preload_fhir_models(("Bundle", *RESOURCE_TYPES))
        entries = [{"resource": {"resourceType": t, "id": "warm-up"}} for t in RESOURCE_TYPES]
        try:
            api.case_from_bundle({"resourceType": "Bundle", "type": "collection", "entry": entries}, "warm-up",
                                 self.kb)
        except api.BmdkbError:
            pass

    def answer(self, bundle: dict, label: str, base: str, notes: list) -> Answer:
        """The cards for ``bundle`` (``label`` names the call in the result; ``base`` is the
        service's public URL; ``notes`` are said on the first card). Data that cannot be read
        into a case gets the one problem card that says why."""
        started = time.perf_counter()
        try:
            evaluation = api.evaluate_bundle(self.evaluator, bundle, label, facility=self.config.facility,
                                             approved_only=self.config.approved_only)
        except api.CaseError as exc:
            evaluated = time.perf_counter()
            card, info = cards.problem_card(self.kb, base, str(exc), self.config.mode)
            issued, infos = [card], [info]
        else:
            evaluated = time.perf_counter()
            issued, infos = self.renderer.render(evaluation, base, notes)
        body = api.fastjson.compact_bytes({"cards": issued})   # what Starlette's JSONResponse writes, faster
        return Answer(body, tuple(infos), len(issued), evaluated - started, time.perf_counter() - evaluated)

