"""The FHIR side of a hook call: the prefetch templates the service asks for, what the client sent,
what the service fetches itself from ``fhirServer``, and the one Bundle handed to the engine.

Each prefetch key is taken from the request when the CDS client filled it; a key it left out or
sent as null (the spec's "could not prefetch") is fetched from ``fhirServer`` with the
``fhirAuthorization`` bearer token. The Patient and the DXA Observations are needed: when neither
the prefetch nor the FHIR server gives them the call is answered 412. Medications and conditions
are asked for but not needed: without them treatment and findings are unknown (never "none"),
and the card says which data could not be had.

Every resource must belong to the patient of the hook's context: a resource whose subject is
another patient makes the request a bad one (400), never a card about the wrong person.
"""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

LOINC = "http://loinc.org"
FHIR_JSON = "application/fhir+json"
MAX_PAGES = 5          # a search result is followed through at most this many pages
MAX_DEVICES = 10       # scanners fetched by reference for one call, at most
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")   # FHIR R4 id (so a context id is safe in a URL)
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")


class Unavailable(Exception):
    """Data the service needs that neither the prefetch nor the FHIR server gave (answered 412)."""


class WrongPatient(Exception):
    """A resource of another patient than the hook's context (answered 400)."""


class BadPrefetch(Exception):
    """A prefetch value whose Bundle the service cannot read: entries that are not a list of
    objects, or a resource without a type (answered 400, naming the key and the entry)."""


@dataclass(frozen=True)
class PrefetchKey:
    """One prefetch template: its key, what it fetches (in words), the query, and whether the
    service can answer without it."""

    key: str
    label: str
    query: str
    needed: bool


def prefetch_keys(loinc_codes: list[str]) -> tuple:
    """The service's prefetch templates; the DXA Observations by the binding's LOINC codes, newest first."""
    codes = ",".join(f"{LOINC}|{code}" for code in loinc_codes)
    patient = "{{context.patientId}}"
    return (
        PrefetchKey("patient", "the Patient", f"Patient/{patient}", True),
        PrefetchKey("dxa", "the DXA Observations",
                    f"Observation?patient={patient}&code={codes}&_sort=-date&_count=200", True),
        PrefetchKey("medicationRequests", "medication requests", f"MedicationRequest?patient={patient}", False),
        PrefetchKey("medicationStatements", "medication statements", f"MedicationStatement?patient={patient}",
                    False),
        PrefetchKey("conditions", "conditions", f"Condition?patient={patient}", False),
    )


def dxa_codes(binding) -> frozenset:
    """The binding's codes of DXA results (the entries that name a skeletal site); all its codes when
    it does not say. A patient with none of them has no DXA result to interpret: no card."""
    entries = getattr(getattr(binding, "binding", None), "observations", None)
    if isinstance(entries, dict):
        sited = {code for code, entry in entries.items() if isinstance(entry, dict) and entry.get("site")}
        if sited:
            return frozenset(sited)
    return frozenset(binding.loinc_codes)


def has_dxa(bundle: dict, codes: frozenset) -> bool:
    """Whether the Bundle holds an Observation coded (in LOINC) with one of ``codes``; True too when
    an Observation's code cannot be read, so that the evaluation's FHIR check says what is wrong
    with it (unreadable is not "no DXA result")."""
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        if resource.get("resourceType") != "Observation":
            continue
        code = resource.get("code")
        if code is None:
            continue
        codings = code.get("coding") if isinstance(code, dict) else False
        if codings is None:   # a code in words only
            continue
        if not isinstance(codings, list):
            return True
        for coding in codings:
            if not isinstance(coding, dict) or not isinstance(coding.get("code"), (str, type(None))):
                return True
            if coding.get("system") == LOINC and coding.get("code") in codes:
                return True
    return False


def templates(keys: tuple) -> dict:
    """The discovery document's ``prefetch``: key -> query template."""
    return {k.key: k.query for k in keys}


@dataclass
class Gathered:
    """The Bundle made for one call, and where its parts came from."""

    bundle: dict
    prefetched: list = field(default_factory=list)   # keys the client sent
    fetched: list = field(default_factory=list)      # keys the service fetched from fhirServer
    missing: list = field(default_factory=list)      # keys neither gave (none of them needed)


class FhirClient:
    """Reads from a CDS client's FHIR server, bounded in time and size (see ServiceConfig)."""

    def __init__(self, http: httpx.AsyncClient, max_bytes: int, allowed_servers: tuple = ()):
        self.http = http
        self.max_bytes = max_bytes
        self.allowed = tuple(s.rstrip("/") for s in allowed_servers)

    def allows(self, base: str) -> bool:
        """Whether the settings let the service call ``base`` (any http(s) server when none are listed)."""
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        return not self.allowed or base.rstrip("/") in self.allowed

    async def read(self, url: str, token: str | None, limit: int | None = None) -> bytes:
        """The body at ``url`` (at most ``limit`` bytes); Unavailable for any failure."""
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        limit = limit or self.max_bytes
        try:
            async with self.http.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    raise Unavailable(f"the FHIR server answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise Unavailable(f"the FHIR server's answer is larger than {limit} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the FHIR server could not be read ({type(exc).__name__})") from None

    async def get(self, base: str, path: str, token: str | None) -> dict:
        """One FHIR JSON resource at ``base``/``path``; a search is followed through its pages (on
        the same server only) and returned as one searchset Bundle."""
        url = f"{base.rstrip('/')}/{path}"
        resource = _json(await self.read(url, token))
        if resource.get("resourceType") != "Bundle":
            return resource
        entries = _page(resource)
        for _ in range(MAX_PAGES - 1):
            links = resource.get("link")
            following = next((link.get("url") for link in links if isinstance(link, dict)
                              and link.get("relation") == "next"), None) if isinstance(links, list) else None
            if not isinstance(following, str) or not following.startswith(base.rstrip("/") + "/"):
                break
            resource = _json(await self.read(following, token))
            entries += _page(resource) if resource.get("resourceType") == "Bundle" else []
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def _page(bundle: dict) -> list:
    """A FHIR server's Bundle's entries; Unavailable when they cannot be read."""
    try:
        return _entries(bundle)
    except ValueError as exc:
        raise Unavailable(f"the FHIR server's answer is a Bundle the service cannot read: {exc}") from None


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise Unavailable("the FHIR server's answer is not JSON") from None
    if not isinstance(value, dict):
        raise Unavailable("the FHIR server's answer is not a FHIR resource")
    if value.get("resourceType") == "OperationOutcome":
        raise Unavailable("the FHIR server answered with an OperationOutcome")
    return value


def _entries(bundle: dict) -> list:
    """A Bundle's entries, each an object whose resource (when it has one) has a type; ValueError
    saying which is not (so that nothing is dropped unseen: unreadable is not absent)."""
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError("its entry is not a list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"its entry[{index}] is not an object")
        resource = entry.get("resource")
        if resource is not None and not (isinstance(resource, dict) and isinstance(resource.get("resourceType"), str)):
            raise ValueError(f"its entry[{index}].resource is not a FHIR resource (no resourceType)")
    return list(entries)


def _resources(value) -> list[dict]:
    """The resources a prefetch value holds: itself, or a Bundle's entries (outcomes left out); its
    entries already read by ``_entries``."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") != "Bundle":
        return [value]
    return [entry["resource"] for entry in value.get("entry") or []
            if entry.get("resource") is not None and entry["resource"]["resourceType"] != "OperationOutcome"]


def _usable(value) -> bool:
    """Whether a prefetch value the client sent can stand for its key (null, an OperationOutcome or
    a non-resource cannot: the service fetches the key itself)."""
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str) \
        and value["resourceType"] != "OperationOutcome"


def _check_patient(resource: dict, patient_id: str, where: str) -> None:
    if resource.get("resourceType") == "Patient":
        if resource.get("id") not in (None, patient_id):
            raise WrongPatient(f"{where} is a Patient other than the context's patientId")
        return
    for key in ("subject", "patient"):
        ref = resource.get(key)
        reference = ref.get("reference") if isinstance(ref, dict) else None
        match = _PATIENT_REF.search(reference) if isinstance(reference, str) else None
        if match and match.group(1) != patient_id:
            raise WrongPatient(f"{where} belongs to a patient other than the context's patientId")


def _device_ids(resources: list[dict]) -> list[str]:
    out = []
    for resource in resources:
        ref = resource.get("device") if resource.get("resourceType") == "Observation" else None
        reference = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(reference, str) and reference.startswith("Device/"):
            device = reference.removeprefix("Device/")
            if FHIR_ID.match(device) and device not in out:
                out.append(device)
    return out


async def gather(keys: tuple, patient_id: str, prefetch: dict, server: str | None, token: str | None,
                 client: FhirClient) -> Gathered:
    """The Bundle for one call (type ``collection``, the Patient first): each key from the prefetch
    when the client sent it, else fetched; Unavailable when a needed key can be had from neither."""
    gathered = Gathered({})
    values, failures = {}, {}
    to_fetch = []
    for key in keys:
        if _usable(prefetch.get(key.key)):
            if prefetch[key.key]["resourceType"] == "Bundle":
                try:
                    _entries(prefetch[key.key])
                except ValueError as exc:
                    raise BadPrefetch(f"prefetch {key.key!r} is a Bundle the service cannot read: {exc}") from None
            values[key.key] = prefetch[key.key]
            gathered.prefetched.append(key.key)
        else:
            to_fetch.append(key)
    can_fetch = server is not None and client.allows(server)
    if to_fetch and can_fetch:
        async def one(key):
            try:
                return key, await client.get(server, key.query.replace("{{context.patientId}}", patient_id), token)
            except Unavailable as exc:
                return key, exc
        for key, value in await asyncio.gather(*(one(k) for k in to_fetch)):
            if isinstance(value, Unavailable):
                failures[key.key] = str(value)
            else:
                values[key.key] = value
                gathered.fetched.append(key.key)
    for key in to_fetch:
        if key.key in values:
            continue
        if key.needed:
            if server is None:
                raise Unavailable(f"{key.label}: not prefetched, and the request names no fhirServer")
            if not can_fetch:
                raise Unavailable(f"{key.label}: not prefetched, and the fhirServer is not one this service "
                                  "may call")
            raise Unavailable(f"{key.label}: not prefetched, and could not be fetched: {failures[key.key]}")
        gathered.missing.append(key.key)

    resources, seen = [], set()
    for key in keys:
        for k, resource in enumerate(_resources(values.get(key.key))):
            _check_patient(resource, patient_id, f"prefetch {key.key!r} resource {k}")
            ident = (resource["resourceType"], resource.get("id"))
            if isinstance(ident[1], str):   # an id of another kind is reported by the FHIR check
                if ident in seen:
                    continue
                seen.add(ident)
            resources.append(resource)
    if not any(r.get("resourceType") == "Patient" for r in resources):
        raise Unavailable("the Patient could not be had from the prefetch or the FHIR server")
    if can_fetch:   # scanners: best effort (an unknown scanner is unknown, never a failure)
        wanted = [d for d in _device_ids(resources) if ("Device", d) not in seen][:MAX_DEVICES]
        async def device(ident):
            try:
                return await client.get(server, f"Device/{ident}", token)
            except Unavailable:
                return None
        for found in await asyncio.gather(*(device(d) for d in wanted)):
            if isinstance(found, dict) and found.get("resourceType") == "Device":
                resources.append(found)
    resources.sort(key=lambda r: r.get("resourceType") != "Patient")
    gathered.bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        # fullUrl must be absolute: the server's, when there is one (references resolve by Type/id anyway)
        "entry": [{"fullUrl": f"{server.rstrip('/')}/{r['resourceType']}/{r['id']}", "resource": r}
                  if server and isinstance(r.get("id"), str) else {"resource": r} for r in resources],
    }
    return gathered
