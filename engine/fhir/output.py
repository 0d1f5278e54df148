"""``--format fhir``: an evaluation as a FHIR R4 Bundle (type collection) holding

- a GuidanceResponse (the knowledge base as the module, the case's subject, the result below);
- a RequestGroup with one action per conclusion: its code and kind, the statement, its citations
  as ``documentation`` (RelatedArtifact citations quoting the source), and the caution when the
  content is not approved (an extension on the action, and the banner as a note);
- a Provenance naming the knowledge-base release and digest, the source article, the rules that
  fired and the input resources (the Bundle's own entries, or the case file).

Checked with the FHIR model library before it is returned (engine/fhir/models.py)."""
from __future__ import annotations

import datetime as dt
import re
import uuid

from bmdkb.engine.fhir import models

CAUTION_URL = "https://bmdkb.example/fhir/StructureDefinition/caution"
KIND_URL = "https://bmdkb.example/fhir/CodeSystem/conclusion-kind"
CODE_URL = "https://bmdkb.example/fhir/CodeSystem/conclusion"
RULE_URL = "https://bmdkb.example/fhir/rule"
_NAMESPACE = uuid.UUID("6f1c1a52-4d4b-4b59-9d0e-6a62d1d3b6a1")   # bmdkb's own: deterministic entry ids


def _uuid(*parts) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '|'.join(map(str, parts)))}"


def _instant(now: dt.datetime | None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    return now.isoformat(timespec="seconds")


def _input_references(evaluation) -> list[dict]:
    """References to the input resources the facts came from (FHIR input), or the case file."""
    if evaluation.source is None:
        return [{"display": f"case file {evaluation.file} (case {evaluation.case.get('case_id')})"}]
    entries = evaluation.source.get("entry") or []
    used = sorted({int(m.group(1)) for f in evaluation.facts for p in f.paths.values()
                   if (m := re.match(r"Bundle\.entry\[(\d+)\]", p))})
    refs = []
    for i in used:
        entry = entries[i]
        resource = entry["resource"]
        if entry.get("fullUrl"):
            refs.append({"reference": entry["fullUrl"], "type": resource.get("resourceType")})
        elif resource.get("id"):
            refs.append({"reference": f"{resource['resourceType']}/{resource['id']}"})
    return refs


def _subject(evaluation) -> dict | None:
    if evaluation.source is None:
        return None
    for entry in evaluation.source.get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Patient":
            if entry.get("fullUrl"):
                return {"reference": entry["fullUrl"]}
            if resource.get("id"):
                return {"reference": f"Patient/{resource['id']}"}
    return None


def _citation(kb, citation: dict) -> dict:
    source = kb.sources.get(citation["source"])
    title = source.meta.get("title", citation["source"]) if source else citation["source"]
    return {"type": "citation", "label": citation.get("section"), "display": title,
            "citation": f"“{citation['quote']}” ({title}, section {citation.get('section')})"}


def _action(kb, conclusion: dict) -> dict:
    action = {
        "title": conclusion["code"],
        "description": conclusion["statement"],
        "code": [{"coding": [{"system": CODE_URL, "code": conclusion["code"]}],
                  "text": conclusion["kind"]}],
        "documentation": [_citation(kb, c) for c in conclusion.get("citations", [])] or None,
    }
    if conclusion.get("support"):
        action["textEquivalent"] = f"{conclusion['kind']} ({conclusion['support']}): {conclusion['statement']}"
    if conclusion.get("caution"):
        action["extension"] = [{"url": CAUTION_URL, "valueString": conclusion["caution"]}]
    return {k: v for k, v in action.items() if v is not None}


def fhir_output(evaluation, kb, now: dt.datetime | None = None, check: bool = True) -> dict:
    """The evaluation as a FHIR R4 Bundle (GuidanceResponse, RequestGroup, Provenance), checked
    with the FHIR model library unless ``check`` is False (a caller that checked the same code
    path in its tests and needs the ~20 ms back). ``now`` stamps it (default: now, UTC)."""
    result = evaluation.result
    identity = result["knowledge_base"]
    when = _instant(now)
    key = (result["case_id"], identity["digest"], result["mode"])
    gr_url, rg_url, prov_url = _uuid("GuidanceResponse", *key), _uuid("RequestGroup", *key), _uuid("Provenance", *key)
    subject = _subject(evaluation)
    module = f"urn:bmdkb:{identity.get('name', 'kb')}:{identity['version']}"
    cautioned = [c for c in result["conclusions"] if c.get("caution")]
    notes = []
    if cautioned:
        notes.append({"text": f"{len(cautioned)} of {len(result['conclusions'])} conclusions rest on content not yet "
                              "approved by the editorial board. Use them with care."})
    if result.get("input"):
        notes += [{"text": f"input: {n}"} for n in result["input"]["notes"]]
        notes += [{"text": f"not mapped: {u}"} for u in result["input"]["unmapped"]]

    request_group = {"resourceType": "RequestGroup", "id": rg_url.rsplit(":", 1)[1], "status": "active",
                     "intent": "proposal", "authoredOn": when, "instantiatesUri": [module],
                     "action": [_action(kb, c) for c in result["conclusions"]] or None,
                     "note": notes or None}
    guidance = {"resourceType": "GuidanceResponse", "id": gr_url.rsplit(":", 1)[1],
                "requestIdentifier": {"system": "urn:bmdkb:case", "value": str(result["case_id"])},
                "moduleUri": module, "status": "success", "occurrenceDateTime": when,
                "result": {"reference": rg_url, "type": "RequestGroup"}}
    if subject:
        guidance["subject"] = request_group["subject"] = subject
    if not result["conclusions"]:
        guidance["note"] = [{"text": "no conclusion was drawn for this case"}] + (notes or [])

    entities = [{"role": "source", "what": {"identifier": {"system": "urn:bmdkb:knowledge-base",
                                                         "value": identity["digest"]},
                                          "display": f"knowledge base {identity.get('name')} release "
                                                     f"{identity['version']} ({identity['digest']})"}}]
    cited = []
    for c in result["conclusions"]:
        for citation in c.get("citations", []):
            if citation["source"] not in cited:
                cited.append(citation["source"])
    for source_id in cited:
        meta = kb.sources[source_id].meta if source_id in kb.sources else {}
        entities.append({"role": "source", "what": {
            "identifier": {"system": "urn:bmdkb:source-sha256", "value": str(meta.get("sha256", source_id))},
            "display": f"“{meta.get('title', source_id)}”, {meta.get('publisher', '')}, last updated "
                       f"{meta.get('last_updated', '')}"}})
    rules = {}
    for c in result["conclusions"]:
        rules.setdefault(c["rule"]["id"], c["rule"])
    for rule in rules.values():
        entities.append({"role": "derivation", "what": {
            "identifier": {"system": RULE_URL, "value": f"{rule['id']}@{rule['version']}"},
            "display": f"rule {rule['id']} version {rule['version']} ({rule['status']}, {rule['digest']})"}})
    for ref in _input_references(evaluation):
        entities.append({"role": "source", "what": ref})
    provenance = {"resourceType": "Provenance", "id": prov_url.rsplit(":", 1)[1],
                  "target": [{"reference": gr_url}, {"reference": rg_url}], "recorded": when,
                  "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                                  "code": "assembler"}]},
                             "who": {"display": f"bmdkb, knowledge base {identity.get('name')} {identity['version']}"}}],
                  "entity": entities}
    bundle = {"resourceType": "Bundle", "id": _uuid("Bundle", *key).rsplit(":", 1)[1], "type": "collection",
              "timestamp": when,
              "entry": [{"fullUrl": gr_url, "resource": guidance},
                        {"fullUrl": rg_url, "resource": {k: v for k, v in request_group.items() if v is not None}},
                        {"fullUrl": prov_url, "resource": provenance}]}
    if check:
        models.check(bundle, "--format fhir", root="Bundle")
    return bundle
