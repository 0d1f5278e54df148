"""The CDS Hooks service end to end: `bmdkb serve` runs as a real process on 127.0.0.1 and is called
with a real HTTP client (httpx), with the CDS Hooks 2.0.1 specification's own examples and test key,
the sandbox's public key set, and a FHIR server stub on 127.0.0.1 for the data not prefetched."""
from __future__ import annotations

import copy
import json
import re
import time

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bmdkb.service import pages

import cds_bundle
from cds_server import (SANDBOX_ISS, SERVICE_ID, SPEC_ISS, EXTERNAL, FhirStub, ServerProcess, spec_example,
                        spec_private_key, token)
from conftest import CASES, REPO

PATIENT = "p-7731"          # patient data the log must never show
SECRET_TOKEN = "opaque-fhir-token-4f1c"
CASE = yaml.safe_load((CASES / "spine-up-hip-down.yaml").read_text())
RELEASE = yaml.safe_load((REPO / "knowledge" / "kb.yaml").read_text())["release"]
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())


def _jwks_of(public_key, kid: str, alg: str) -> dict:
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(public_key))
    return {"keys": [{**jwk, "kid": kid, "alg": alg, "use": "sig"}]}


@pytest.fixture(scope="module")
def fhir_stub():
    data = cds_bundle.resources(CASE, PATIENT)
    stub = FhirStub(data, PATIENT, jwks=spec_example("23-jwks.json"))
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, fhir_stub):
    folder = tmp_path_factory.mktemp("serve")
    (folder / "facility.json").write_text(json.dumps(cds_bundle.FACILITY))
    (folder / "rsa-jwks.json").write_text(json.dumps(_jwks_of(RSA_KEY.public_key(), "rsa-1", "RS384")))
    config = {
        "issuers": {
            SPEC_ISS: {"jwks_file": str(EXTERNAL / "23-jwks.json")},
            SANDBOX_ISS: {"jwks_file": str(EXTERNAL / "sandbox-jwks.json")},
            "https://rsa-ehr.example.org": {"jwks_file": "rsa-jwks.json"},
            "https://jku-ehr.example.org": {"jku": [f"{fhir_stub.url}/jwks.json"]},
        },
        "fhir_servers": [fhir_stub.url],
        "cors_origins": ["https://sandbox.cds-hooks.org"],
        "max_request_bytes": 200_000,
        "feedback_store": "feedback.jsonl",
        "facility": "facility.json",
    }
    (folder / "serve.yaml").write_text(yaml.safe_dump(config))
    return folder


@pytest.fixture(scope="module")
def server(workdir):
    process = ServerProcess(["--kb", str(REPO), "--config", "serve.yaml"], workdir)
    yield process
    process.close()


def hook_body(prefetch=None, server_url=None, authorization=True, patient=PATIENT):
    body = {"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
            "context": {"userId": "Practitioner/example", "patientId": patient}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if server_url is not None:
        body["fhirServer"] = server_url
        if authorization:
            body["fhirAuthorization"] = {**spec_example("01-request-example.json")["fhirAuthorization"],
                                         "access_token": SECRET_TOKEN}
    return body


def full_prefetch(patient=PATIENT):
    return cds_bundle.prefetch(CASE, patient)


# ---------------------------------------------------------------------------------- discovery

def test_discovery_names_a_patient_view_service_with_its_prefetch_templates(server):
    answer = server.client.get("/cds-services")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    services = answer.json()["services"]
    example = spec_example("00-discovery.json")["services"][0]
    assert len(services) == 1
    service = services[0]
    assert set(example) <= set(service) | {"prefetch"} and service["hook"] == "patient-view"
    assert service["id"] == SERVICE_ID and service["title"] and service["description"]
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    dxa = prefetch["dxa"]
    assert dxa.startswith("Observation?patient={{context.patientId}}&code=") and "_sort=-date" in dxa
    for code in ("24966-4", "38267-1", "46278-8", "80946-7", "24701-5", "80954-1", "38263-0"):
        assert f"http://loinc.org|{code}" in dxa
    assert prefetch["medicationStatements"].startswith("MedicationStatement?patient={{context.patientId}}")
    assert prefetch["medicationRequests"].startswith("MedicationRequest?patient={{context.patientId}}")
    assert prefetch["conditions"].startswith("Condition?patient={{context.patientId}}")


# ------------------------------------------------------------------------------ cards, in full

def test_prefetch_present_gives_one_card_per_clinical_question_with_cited_passages(server, fhir_stub):
    before = len(fhir_stub.requests)
    answer = server.call(hook_body(full_prefetch()))
    assert answer.status_code == 200, answer.text
    cards = answer.json()["cards"]
    assert len(fhir_stub.requests) == before   # everything was prefetched: the FHIR server is not called
    summaries = [c["summary"] for c in cards]
    assert [s.split(":")[0] for s in summaries] == ["What the DXA change means", "Checks to make next",
                                                    "Treatment considerations", "Follow-up", "Pitfalls and cautions"]
    result = json.loads(server_result_json())
    codes_by_kind = {}
    for c in result["conclusions"]:
        codes_by_kind.setdefault(c["kind"], []).append(c)
    for card in cards:
        assert len(card["summary"]) < 140 and card["summary"].endswith("(not yet approved)")
        assert card["indicator"] in ("info", "warning")
        assert card["source"]["label"] == f"bmdkb-discordant-bmd release {RELEASE}"
        assert card["source"]["url"] == server.url("/sources/discordant-bmd-article")
        assert {r["code"] for r in card["overrideReasons"]} >= {"already-addressed", "not-applicable"}
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", card["uuid"])
        assert card["detail"].startswith("> **Caution:**")
    # the documented indicator rule: a pattern found makes its card a warning; the others are info
    assert [c["indicator"] for c in cards] == ["warning", "info", "info", "info", "info"]
    # every conclusion is on exactly one card, with its statement and every citation quoted verbatim
    details = [c["detail"] for c in cards]
    for conclusion in result["conclusions"]:
        holding = [d for d in details if _md(conclusion["statement"]) in d]
        assert len(holding) == 1, conclusion["code"]
        for citation in conclusion["citations"]:
            assert f"“{_md(citation['quote'])}”" in holding[0]
    assert "Lumbar spine: +0.046 g/cm2 (+5.0%) = +1.53 LSC" in details[0]   # the measurement lines


def _md(text: str) -> str:
    from bmdkb.cli.render import escape

    return escape.markdown(text)


def server_result_json() -> str:
    """The same case's result document, from the engine in this process (the cards must say it all)."""
    from bmdkb.engine.api import Evaluator, evaluate_bundle, load_kb
    from bmdkb.service import fhir as service_fhir

    import asyncio

    kb = load_kb(REPO)
    keys = service_fhir.prefetch_keys([])
    gathered = asyncio.run(service_fhir.gather(keys, PATIENT, full_prefetch(), None, None, None))
    return json.dumps(evaluate_bundle(Evaluator(kb), gathered.bundle, "x", facility=cds_bundle.FACILITY).result)


def test_links_open_the_registered_source_with_the_cited_passage_highlighted(server):
    cards = server.call(hook_body(full_prefetch())).json()["cards"]
    links = [link for card in cards for link in card["links"]]
    assert links and all(link["type"] == "absolute" for link in links)
    page_urls = {link["url"] for link in links}
    for url in sorted(page_urls)[:12]:
        assert url.startswith(server.base + "/sources/discordant-bmd-article/passages/") and url.endswith("#passage")
        page = server.client.get(url.split("#")[0])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src" not in page.headers["content-security-policy"]
        highlighted = re.search(r'<mark id="passage">(.*?)</mark>', page.text, re.S).group(1)
        pid = url.split("/passages/")[1].split("#")[0]
        import html as html_module

        assert pages.passage_id(html_module.unescape(highlighted)) == pid
    whole = server.client.get("/sources/discordant-bmd-article")
    assert whole.status_code == 200 and "<mark" not in whole.text
    assert server.client.get("/sources/discordant-bmd-article/passages/0000000000000000").status_code == 404
    assert server.client.get("/sources/no-such-source").status_code == 404


def test_card_uuids_are_stable_and_made_of_no_patient_data(server):
    first = [c["uuid"] for c in server.call(hook_body(full_prefetch())).json()["cards"]]
    again = [c["uuid"] for c in server.call(hook_body(full_prefetch())).json()["cards"]]
    other_patient = [c["uuid"] for c in server.call(hook_body(full_prefetch("p-0002"), patient="p-0002")).json()["cards"]]
    assert first == again == other_patient and len(set(first)) == len(first)


def test_the_spec_request_example_is_understood(server):
    """The specification's request example: its prefetch key is not one of this service's and its
    fhirServer is not one the settings allow, so the data cannot be had: 412, never a call out."""
    answer = server.call(spec_example("01-request-example.json"))
    assert answer.status_code == 412
    assert "fhirServer is not one this service may call" in answer.json()["error"]["message"]
    extension = spec_example("25-request-with-extension.json")   # no patientId in its context
    answer = server.call(extension)
    assert answer.status_code == 400 and "context.patientId" in answer.json()["error"]["message"]


def test_fields_the_service_does_not_use_are_let_be(server):
    body = hook_body(full_prefetch())
    body["version"] = "3.0.0"   # ready for CDS Hooks 3.0's additions: an unknown field is no error
    body["extension"] = spec_example("25-request-with-extension.json")["extension"]
    body["context"]["encounterId"] = "89284"
    answer = server.call(body)
    assert answer.status_code == 200 and len(answer.json()["cards"]) == 5


# ------------------------------------------------------------------- prefetch present, partial, absent

def test_prefetch_partial_fetches_the_rest_from_the_fhir_server_with_the_bearer_token(server, fhir_stub):
    full = [c for c in server.call(hook_body(full_prefetch())).json()["cards"]]
    before = len(fhir_stub.requests)
    prefetch = {"patient": full_prefetch()["patient"], "medicationRequests": None}
    answer = server.call(hook_body(prefetch, fhir_stub.url))
    assert answer.status_code == 200, answer.text
    made = fhir_stub.requests[before:]
    kinds = sorted(p.strip("/").split("/")[0] for p, _, _ in made)
    assert kinds == ["Condition", "Device", "MedicationRequest", "MedicationStatement", "Observation"]
    assert all(auth == f"Bearer {SECRET_TOKEN}" for _, _, auth in made)
    observation = next(q for p, q, _ in made if p == "/Observation")
    assert observation["patient"] == [PATIENT] and observation["_sort"] == ["-date"]
    assert [(c["uuid"], c["detail"]) for c in answer.json()["cards"]] == [(c["uuid"], c["detail"]) for c in full]


def test_prefetch_absent_fetches_everything_and_gives_the_same_cards(server, fhir_stub):
    full = server.call(hook_body(full_prefetch())).json()["cards"]
    before = len(fhir_stub.requests)
    answer = server.call(hook_body(None, fhir_stub.url))
    assert answer.status_code == 200, answer.text
    assert f"/Patient/{PATIENT}" in fhir_stub.paths()[before:]
    assert answer.json()["cards"] == full


def test_without_prefetch_or_fhir_server_the_answer_is_412(server):
    answer = server.call(hook_body({"patient": full_prefetch()["patient"]}))
    assert answer.status_code == 412
    assert "DXA Observations" in answer.json()["error"]["message"]
    assert server.call(hook_body(None)).status_code == 412


def test_a_fhir_server_refusing_the_needed_data_gives_412_and_optional_data_a_note(server, fhir_stub):
    try:
        fhir_stub.fail = {"Observation": 401}
        answer = server.call(hook_body({"patient": full_prefetch()["patient"]}, fhir_stub.url))
        assert answer.status_code == 412 and "answered 401" in answer.json()["error"]["message"]
        fhir_stub.fail = {"MedicationStatement": 500, "MedicationRequest": 500}
        prefetch = full_prefetch()
        del prefetch["medicationStatements"], prefetch["medicationRequests"]
        answer = server.call(hook_body(prefetch, fhir_stub.url))
        assert answer.status_code == 200
        first = answer.json()["cards"][0]["detail"]
        assert "Not available, so treated as unknown: medication requests, medication statements." in first
    finally:
        fhir_stub.fail = {}


def test_a_patient_without_dxa_results_gets_no_card(server):
    prefetch = full_prefetch()
    prefetch["dxa"] = cds_bundle.searchset([])
    answer = server.call(hook_body(prefetch))
    assert answer.status_code == 200 and answer.json() == {"cards": []}


def test_dxa_data_that_cannot_be_read_gets_one_card_saying_why(server):
    prefetch = full_prefetch()
    prefetch["dxa"]["entry"][0]["resource"]["valueQuantity"]["code"] = "furlongs"
    prefetch["dxa"]["entry"][0]["resource"]["valueQuantity"]["unit"] = "furlongs"
    answer = server.call(hook_body(prefetch))
    assert answer.status_code == 200
    [card] = answer.json()["cards"]
    assert card["summary"] == "DXA results on file could not be interpreted" and "furlongs" in card["detail"]


def test_a_prefetched_resource_of_no_fhir_type_gets_the_card_saying_why_not_a_500(server):
    prefetch = full_prefetch()
    prefetch["dxa"]["entry"].append({"resource": {"resourceType": "Nope", "id": "n1"}})
    answer = server.call(hook_body(prefetch))
    assert answer.status_code == 200
    [card] = answer.json()["cards"]
    assert card["summary"] == "DXA results on file could not be interpreted"
    assert "'Nope' is not a FHIR R4 resource type" in card["detail"]


@pytest.mark.parametrize("key, value, words", [
    ("dxa", {"resourceType": "Bundle", "type": "searchset", "entry": 1.5}, "its entry is not a list"),
    ("conditions", {"resourceType": "Bundle", "type": "searchset", "entry": [5]}, "its entry[0] is not an object"),
    ("dxa", {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"id": "x"}}]},
     "its entry[0].resource is not a FHIR resource (no resourceType)"),
])
def test_a_prefetched_bundle_that_cannot_be_read_is_refused_400_naming_it(server, key, value, words):
    # these made the service answer 500 (found by fuzzing the prefetch); nothing may be dropped unseen
    prefetch = full_prefetch()
    prefetch[key] = value
    answer = server.call(hook_body(prefetch))
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == f"prefetch {key!r} is a Bundle the service cannot read: {words}"


def test_odd_values_inside_prefetched_resources_get_the_card_saying_why_not_a_500(server):
    prefetch = full_prefetch()
    prefetch["conditions"] = cds_bundle.searchset([{"resourceType": "Condition", "id": ["a", "list"]}])
    [card] = server.call(hook_body(prefetch)).json()["cards"]
    assert card["summary"] == "DXA results on file could not be interpreted" and ".id" in card["detail"]
    prefetch = full_prefetch()
    only = prefetch["dxa"]["entry"][0]["resource"]
    only["code"] = {"coding": 1.5}   # the only DXA result, its code unreadable: not "no DXA result"
    prefetch["dxa"] = cds_bundle.searchset([only])
    answer = server.call(hook_body(prefetch))
    assert answer.status_code == 200
    [card] = answer.json()["cards"]
    assert card["summary"] == "DXA results on file could not be interpreted" and "code.coding" in card["detail"]


def test_a_fhir_server_bundle_that_cannot_be_read_is_data_not_had(server, fhir_stub):
    odd = (200, {"resourceType": "Bundle", "type": "searchset", "entry": "not a list", "link": 7})
    try:
        fhir_stub.override = {"MedicationRequest": odd}
        prefetch = full_prefetch()
        del prefetch["medicationRequests"]
        answer = server.call(hook_body(prefetch, fhir_stub.url))
        assert answer.status_code == 200
        assert "Not available, so treated as unknown: medication requests." in answer.json()["cards"][0]["detail"]
        fhir_stub.override = {"Observation": odd}
        answer = server.call(hook_body({"patient": full_prefetch()["patient"]}, fhir_stub.url))
        assert answer.status_code == 412
        assert "a Bundle the service cannot read: its entry is not a list" in answer.json()["error"]["message"]
    finally:
        fhir_stub.override = {}


def test_a_resource_of_another_patient_is_refused(server):
    prefetch = full_prefetch()
    prefetch["dxa"]["entry"][0]["resource"]["subject"] = {"reference": "Patient/someone-else"}
    answer = server.call(hook_body(prefetch))
    assert answer.status_code == 400 and "patient other than" in answer.json()["error"]["message"]
    prefetch = full_prefetch()
    prefetch["patient"]["id"] = "someone-else"
    assert server.call(hook_body(prefetch)).status_code == 400


# ---------------------------------------------------------------------------------- the JWT

def test_jwt_signed_with_the_spec_key_is_accepted_and_unsigned_refused(server):
    assert server.call(hook_body(full_prefetch())).status_code == 200
    answer = server.call(hook_body(full_prefetch()), jwt_token=None)
    assert answer.status_code == 401 and "Authorization" in answer.json()["error"]["message"]
    assert server.call(hook_body(full_prefetch()), headers={"Authorization": "Basic abc"},
                       jwt_token=None).status_code == 401


def test_the_spec_example_token_is_expired(server):
    header, payload = spec_example("21-jwt-header.json"), spec_example("22-jwt-payload.json")
    payload = {**payload, "aud": server.url()}
    header = {k: v for k, v in header.items() if k not in ("jku", "alg", "typ")}
    expired = jwt.encode(payload, spec_private_key(), algorithm="ES384", headers=header)
    answer = server.call(hook_body(full_prefetch()), jwt_token=expired)
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]


@pytest.mark.parametrize("make, says", [
    (lambda s: token("https://cds.example.org/cds-services/some-service"), "audience"),   # the spec's aud
    (lambda s: token(s.url() + "/"), "audience"),
    (lambda s: token(s.url(), iss="https://evil.example.com/"), "allowlist"),
    (lambda s: token(s.url(), key=OTHER_EC_KEY), "signature"),
    (lambda s: token(s.url(), kid="no-such-kid"), "kid"),
    (lambda s: token(s.url(), iat=int(time.time()) + 3600), "future"),
    (lambda s: token(s.url(), lifetime=7200), "longer"),
    (lambda s: jwt.encode({"iss": SPEC_ISS, "aud": s.url(), "exp": int(time.time()) + 60,
                           "iat": int(time.time()), "jti": "x1"}, None, algorithm="none"), "only ES384 and RS384"),
    (lambda s: jwt.encode({"iss": SPEC_ISS, "aud": s.url(), "exp": int(time.time()) + 60, "iat": int(time.time()),
                           "jti": "x2"}, "a-shared-secret-of-at-least-48-bytes-000000000000000", algorithm="HS384",
                          headers={"kid": "example-kid"}), "only ES384 and RS384"),
    (lambda s: token(s.url(), key=ec.generate_private_key(ec.SECP256R1()), alg="ES256"), "only ES384 and RS384"),
    (lambda s: jwt.encode({"iss": SPEC_ISS, "aud": s.url(), "exp": int(time.time()) + 60, "iat": int(time.time())},
                          spec_private_key(), algorithm="ES384", headers={"kid": "example-kid"}), "jti"),
    (lambda s: "not-a-jwt", "not a JWT"),
    (lambda s: token(s.url(), iss=SANDBOX_ISS, kid="44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"), "signature"),
])
def test_bad_tokens_are_refused_with_401(server, make, says):
    answer = server.call(hook_body(full_prefetch()), jwt_token=make(server))
    assert answer.status_code == 401, answer.text
    assert says in answer.json()["error"]["message"]


def test_a_replayed_jti_is_refused(server):
    once = token(server.url())
    assert server.call(hook_body(full_prefetch()), jwt_token=once).status_code == 200
    answer = server.call(hook_body(full_prefetch()), jwt_token=once)
    assert answer.status_code == 401 and "jti was already used" in answer.json()["error"]["message"]


def test_rs384_is_accepted_from_its_issuer(server):
    signed = token(server.url(), key=RSA_KEY, alg="RS384", iss="https://rsa-ehr.example.org", kid="rsa-1")
    assert server.call(hook_body(full_prefetch()), jwt_token=signed).status_code == 200
    signed = token(server.url(), key=RSA_KEY, alg="RS256", iss="https://rsa-ehr.example.org", kid="rsa-1")
    assert server.call(hook_body(full_prefetch()), jwt_token=signed).status_code == 401


def test_jku_is_fetched_only_when_allowed_for_the_issuer(server, fhir_stub):
    allowed = f"{fhir_stub.url}/jwks.json"
    signed = token(server.url(), iss="https://jku-ehr.example.org", headers={"jku": allowed})
    assert server.call(hook_body(full_prefetch()), jwt_token=signed).status_code == 200
    assert "/jwks.json" in fhir_stub.paths()
    before = len(fhir_stub.requests)
    signed = token(server.url(), iss="https://jku-ehr.example.org", headers={"jku": f"{fhir_stub.url}/other.json"})
    answer = server.call(hook_body(full_prefetch()), jwt_token=signed)
    assert answer.status_code == 401 and "jku" in answer.json()["error"]["message"]
    signed = token(server.url(), iss=SPEC_ISS, headers={"jku": allowed})   # not allowed for this issuer
    assert server.call(hook_body(full_prefetch()), jwt_token=signed).status_code == 401
    assert len(fhir_stub.requests) == before   # a jku not on the allowlist is never fetched


# ---------------------------------------------------------------------------------- feedback

def test_feedback_is_stored_append_only_without_patient_data_and_summarised(server, workdir, runner):
    cards = server.call(hook_body(full_prefetch())).json()["cards"]
    store = workdir / "feedback.jsonl"
    size_before = store.stat().st_size
    head_before = store.read_bytes()
    feedback_path = f"/cds-services/{SERVICE_ID}/feedback"
    examples = [spec_example(n) for n in ("18-feedback-accepted.json", "19-feedback-overridden.json",
                                          "20-feedback-override-reason.json")]
    for example in examples:
        answer = server.call(example, path=feedback_path)
        assert answer.status_code == 200 and answer.json() == {"stored": 1}
    ours = copy.deepcopy(examples[2])
    ours["feedback"][0]["card"] = cards[0]["uuid"]
    ours["feedback"][0]["overrideReason"]["reason"] = {k: cards[0]["overrideReasons"][1][k] for k in ("code", "system")}
    assert server.call(ours, path=feedback_path).status_code == 200
    # the token for feedback must name the feedback URL
    assert server.call(examples[0], path=feedback_path, jwt_token=token(server.url())).status_code == 401
    data = store.read_bytes()
    assert data.startswith(head_before) and len(data) > size_before     # appended, nothing rewritten
    text = data.decode()
    assert "A comment entered by the clinician." not in text and PATIENT not in text
    records = [json.loads(line) for line in text.splitlines()]
    feedback = [r for r in records if r["type"] == "feedback"]
    assert feedback[-1]["card"] == cards[0]["uuid"] and feedback[-1]["comment_given"] is True
    assert set(feedback[-1]) == {"type", "service", "card", "outcome", "override_reason", "comment_given",
                                 "accepted_suggestions", "outcome_time", "received"}

    from bmdkb.cli.main import cli

    result = runner.invoke(cli, ["feedback", str(store), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["feedback"] == len(feedback)
    assert summary["by_question"]["interpretation"]["overridden"] == 1
    assert summary["by_question"]["interpretation"]["override_reasons"] == {"not-applicable": 1}
    assert summary["by_question"]["(card not issued by this store's service)"] == {
        "accepted": 1, "overridden": 2, "override_reasons": {"(no reason given)": 1, "d7ecf885": 1},
        "comments_given": 1, "releases": []}
    text = runner.invoke(cli, ["feedback", str(store)]).stdout
    assert f"interpretation: 1 outcomes, 0 accepted, 1 overridden (releases {RELEASE})" in text
    missing = runner.invoke(cli, ["feedback", str(workdir / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such feedback store" in missing.stderr


@pytest.mark.parametrize("body, says", [
    ({"feedback": []}, "non-empty list"),
    ({"feedback": [{"card": "not-a-uuid", "outcome": "accepted", "outcomeTimestamp": "2021-12-11T10:05:31Z"}]},
     "uuid"),
    ({"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "maybe",
                    "outcomeTimestamp": "2021-12-11T10:05:31Z"}]}, "outcome"),
    ({"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "accepted",
                    "outcomeTimestamp": "yesterday"}]}, "outcomeTimestamp"),
    ({"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "accepted",
                    "outcomeTimestamp": "2021-12-11T10:05:31Z", "overrideReason": {}}]}, "only for an overridden"),
])
def test_malformed_feedback_is_400(server, body, says):
    answer = server.call(body, path=f"/cds-services/{SERVICE_ID}/feedback")
    assert answer.status_code == 400 and says in answer.json()["error"]["message"]


# ---------------------------------------------------------------------- bad requests, limits, the log

@pytest.mark.parametrize("body, status, says", [
    (b"{", 400, "not valid JSON"),
    (b"[]", 400, "JSON object"),
    (b"", 400, "no body"),
    (b'{"hook": "patient-view", "hookInstance": "x", "context": {"patientId": NaN}}', 400, "not valid JSON"),
    (b"[" * 100_001 + b"]" * 100_001, 413, "larger than"),
    (("[" * 50_000 + "]" * 50_000).encode(), 400, "nested too deeply"),
    (json.dumps({"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "1"}}).encode(), 400,
     "patient-view"),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "../etc"}}).encode(), 400,
     "FHIR id"),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "1"},
                 "fhirAuthorization": {"access_token": "t"}}).encode(), 400, "without a fhirServer"),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "1"},
                 "fhirServer": "file:///etc/passwd"}).encode(), 400, "http(s) URL"),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "1"},
                 "prefetch": []}).encode(), 400, "prefetch"),
])
def test_malformed_requests_get_a_clear_json_400(server, body, status, says):
    answer = server.call(body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert says in answer.json()["error"]["message"]
    assert server.alive()


def test_a_streamed_body_over_the_limit_is_cut_off_with_413(server):
    def chunks():
        for _ in range(100):
            yield b" " * 10_000

    answer = server.client.post(f"/cds-services/{SERVICE_ID}", content=chunks(),
                                headers={"Authorization": f"Bearer {token(server.url())}",
                                         "Content-Type": "application/json"})
    assert answer.status_code == 413 and server.alive()


def test_other_refusals_are_json_too(server):
    assert server.call(hook_body(full_prefetch()), path="/cds-services/no-such-service").status_code == 404
    wrong_type = server.call(b"hook=patient-view", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert server.client.get(f"/cds-services/{SERVICE_ID}").status_code == 405
    answer = server.client.get("/no/such/page")
    assert answer.status_code == 404 and answer.json()["error"]["status"] == 404


def test_odd_bodies_never_get_a_500_or_a_traceback(server):
    odd = [{"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1"}, "prefetch": {"patient": 3}},
           {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1"},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}, "dxa": {"resourceType": "Bundle",
                                                                                    "entry": [None, 3, {"resource": 4}]}}},
           {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1"},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"},
                         "dxa": {"resourceType": "Bundle", "entry": [{"resource": {
                             "resourceType": "Observation", "code": {"coding": [{"system": "http://loinc.org",
                                                                               "code": "24966-4"}]},
                             "status": "final", "valueQuantity": {"value": "high"}}}]}}},
           {"hook": "patient-view", "hookInstance": ["x"], "context": {"patientId": "p1"}},
           {"hook": "patient-view", "hookInstance": "x", "context": "p1"},
           {"hook": None}, {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": 7}}]
    for body in odd:
        answer = server.call(body)
        assert 200 <= answer.status_code < 500, (body, answer.text)
        assert "Traceback" not in answer.text
    assert "Traceback" not in server.log_text() and server.alive()


def test_cors_is_allowed_for_the_configured_origin_only(server):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = server.client.options(f"/cds-services/{SERVICE_ID}",
                                    headers={"Origin": "https://sandbox.cds-hooks.org", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    other = server.client.options(f"/cds-services/{SERVICE_ID}", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    simple = server.client.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert simple.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"


def test_the_log_holds_no_patient_data(server):
    server.call(hook_body(None, cds_bundle_url(server)))   # a call that fails, with the token in it
    server.call(hook_body(full_prefetch()))
    log = server.log_text()
    assert "hookInstance=d1577c69-dfbe-44ad-ba6d-3e05e953b2ea" in log
    for secret in (PATIENT, SECRET_TOKEN, "birthDate", "0.912", "Hologic", "alendronate"):
        assert secret not in log, secret


def cds_bundle_url(server) -> str:
    return "http://127.0.0.1:1"   # nothing listens there (and it is not an allowed fhirServer)


# ---------------------------------------------------------------------- modes and start-up

def test_production_mode_withholds_unapproved_content_and_counts_it(workdir):
    process = ServerProcess(["--kb", str(REPO), "--config", "serve.yaml", "--mode", "production"], workdir)
    try:
        answer = process.call(hook_body(full_prefetch()), jwt_token=token(process.url()))
        assert answer.status_code == 200
        [card] = answer.json()["cards"]   # nothing in the shipped knowledge base is approved yet
        assert card["summary"] == "DXA interpretation: 22 conclusions withheld until the editorial board approves them"
        assert "22 conclusions" in card["detail"] and "counted here, not shown" in card["detail"]
        statements = json.loads(server_result_json())["conclusions"]
        assert not any(_md(c["statement"]) in card["detail"] for c in statements)
        assert "links" not in card and card["indicator"] == "info"
        assert "Approved content only." in process.client.get("/cds-services").json()["services"][0]["description"]
    finally:
        process.close()


def test_allow_unsigned_accepts_a_request_without_jwt_and_says_so_loudly(workdir, tmp_path):
    process = ServerProcess(["--kb", str(REPO), "--allow-unsigned", "--facility", "facility.json",
                             "--feedback-store", str(tmp_path / "fb.jsonl")], workdir)
    try:
        assert process.call(hook_body(full_prefetch()), jwt_token=None).status_code == 200
        log = process.log_text()
        assert "--allow-unsigned: requests WITHOUT a JWT are ACCEPTED" in log
        assert "accepted a request without a JWT (--allow-unsigned: never in production)" in log
        assert process.call(hook_body(full_prefetch()), jwt_token="not-a-jwt").status_code == 401
    finally:
        process.close()
    assert process.process.returncode == 0   # SIGTERM: requests in flight finished, a clean stop


@pytest.mark.parametrize("config, says", [
    ({"issuers": {SPEC_ISS: {}}}, "gives no keys"),
    ({"issuers": {SPEC_ISS: {"jwks_file": "missing.json"}}}, "no such file"),
    ({"mode": "staging", "issuers": {SPEC_ISS: {"jku": ["https://x.example/jwks"]}}}, "mode"),
    ({"colour": "blue"}, "is not a setting"),
    ({}, "no trusted issuer"),
    ({"allow_unsigned": True, "cards": [{"id": "x", "title": "X", "stages": ["no-such-stage"]}]}, "not a shown stage"),
])
def test_bad_settings_stop_the_server_with_exit_2(tmp_path, runner, config, says):
    from bmdkb.cli.main import cli

    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(cli, ["serve", "--kb", str(REPO), "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert says in result.stderr and "Traceback" not in result.output


def test_the_example_settings_in_docs_load():
    from bmdkb.service import config

    settings = config.read(str(REPO / "docs" / "serve-config.example.yaml"))
    assert SANDBOX_ISS in settings.issuers and settings.cors_origins == ("https://sandbox.cds-hooks.org",)
