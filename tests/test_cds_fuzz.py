"""A hook call with odd prefetch data is answered or refused, never failed (the 500 a bad request
must not get): seeded, bounded mutations of the shipped cases' prefetch run through the steps of a
call in process (the request's check, the gathering of data, the cards). Three such 500s were
found this way and fixed; this keeps them fixed."""
from __future__ import annotations

import asyncio
import copy
import random

import pytest
import yaml

from bmdkb.engine import api
from bmdkb.service import answering, app, fhir
from bmdkb.service import config as settings

import cds_bundle
from conftest import CASES

CALLS = 400                 # mutated calls per seed (about a second each seed)
ODD = [None, 0, -1, 1.5, 1e308, 10 ** 30, True, "", "x", "2020-13-45", "\u0000", [], {}, [None], [5], {"a": 1}]
REFUSED = (app.Refusal, fhir.Unavailable, fhir.WrongPatient, fhir.BadPrefetch, api.BmdkbError)


def _places(node, path=()):
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        yield from _places(value, path + (key,))


def mutated(document, rnd: random.Random):
    """``document`` with one to three of its places replaced, removed or copied from elsewhere."""
    document = copy.deepcopy(document)
    for _ in range(rnd.randint(1, 3)):
        places = [p for p in _places(document) if p]
        if not places:   # nothing left to change
            break
        path = rnd.choice(places)
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        choice = rnd.random()
        if choice < 0.5:
            parent[path[-1]] = copy.deepcopy(rnd.choice(ODD))
        elif choice < 0.7:
            del parent[path[-1]]
        else:
            source = document
            for key in rnd.choice(places):
                source = source[key]
            parent[path[-1]] = copy.deepcopy(source)
    return document


@pytest.fixture(scope="module")
def answerer(kb):
    config = settings.read(None, allow_unsigned=True)
    return answering.Answerer(config, kb, api.Evaluator(kb))


@pytest.fixture(scope="module")
def prefetches():
    return [cds_bundle.prefetch(yaml.safe_load(path.read_text()), "p1") for path in sorted(CASES.glob("*.yaml"))]


@pytest.mark.parametrize("seed", [1, 2])
def test_odd_prefetch_data_is_answered_or_refused_never_failed(answerer, prefetches, kb, seed):
    rnd = random.Random(seed)
    keys, codes = fhir.prefetch_keys([]), fhir.dxa_codes(api.fhir_binding(kb))
    outcomes = {"answered": 0, "refused": 0}
    for _ in range(CALLS):
        body = {"hook": "patient-view", "hookInstance": "fuzz", "context": {"patientId": "p1"},
                "prefetch": mutated(rnd.choice(prefetches), rnd)}
        if rnd.random() < 0.2:
            body = mutated(body, rnd)
        try:
            hook = app.check_hook_request(body)
            gathered = asyncio.run(fhir.gather(keys, hook["patientId"], hook["prefetch"], None, None, None))
            if fhir.has_dxa(gathered.bundle, codes):
                answerer.answer(gathered.bundle, "fuzz", "http://127.0.0.1:1", [])
            outcomes["answered"] += 1
        except REFUSED:
            outcomes["refused"] += 1
    # both kinds happen: the mutations neither break every call nor leave every call intact
    assert outcomes["answered"] > CALLS / 10 and outcomes["refused"] > CALLS / 10, outcomes
