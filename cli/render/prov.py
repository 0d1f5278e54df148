"""``--format prov``: the derivation of a result as W3C PROV-JSON, written with the maintained
``prov`` package: input elements (case fields or FHIR elements) -> input facts -> derived facts
-> rule firings (activities, each with its rule as plan) -> conclusions -> cited source passages.
Reads only the result document (the contract's JSON), so it says what that document says."""
from __future__ import annotations

import hashlib
import re

import prov.model as pm

NS = "https://bmdkb.example/prov/"


def _id(kind: str, name: str) -> str:
    # qualified names allow letters, digits and a few marks: everything else becomes "_"
    return f"bmdkb:{kind}/{re.sub(r'[^A-Za-z0-9._-]', '_', name)}"


def to_prov(result: dict, file: str, source_titles: dict | None = None) -> pm.ProvDocument:
    """The PROV document of one result document (``file`` names the input it was read from)."""
    doc = pm.ProvDocument()
    doc.add_namespace("bmdkb", NS)
    kb = result["knowledge_base"]
    engine = doc.agent(_id("agent", "bmdkb"), {"prov:type": "prov:SoftwareAgent",
                                                "bmdkb:knowledge_base": f"{kb.get('name')} {kb['version']}",
                                                "bmdkb:digest": kb["digest"]})
    kb_entity = doc.entity(_id("kb", kb["digest"]), {"prov:label": f"knowledge base {kb.get('name')} {kb['version']}"})
    input_doc = doc.entity(_id("input", file), {"prov:label": f"input {file}"})
    reading = doc.activity(_id("reading", file), other_attributes={"prov:label": "input read, facts derived"})
    doc.used(reading, input_doc)
    doc.wasAssociatedWith(reading, engine)
    known = {}
    for fact in result["facts"]:
        attributes = {"prov:type": f"bmdkb:{fact['type']}", "prov:label": fact["id"]}
        entity = doc.entity(_id("fact", fact["id"]), attributes)
        known[fact["id"]] = entity
        for field, path in (fact.get("paths") or {}).items():
            element = doc.entity(_id("element", path), {"prov:label": path})
            doc.wasDerivedFrom(element, input_doc)
            doc.wasDerivedFrom(entity, element, other_attributes={"bmdkb:field": field})
        if fact.get("paths") or fact.get("derived_from"):
            doc.wasGeneratedBy(entity, reading)
    firings, plans, passages = {}, {}, {}

    def firing(rule: dict | str, key: str):
        rule_id = rule["id"] if isinstance(rule, dict) else rule
        if key not in firings:
            activity = doc.activity(_id("firing", key), other_attributes={"prov:label": f"rule {rule_id} fired"})
            if rule_id not in plans:
                label = f"rule {rule_id}" + (f" version {rule['version']} ({rule['digest']})"
                                             if isinstance(rule, dict) else "")
                plans[rule_id] = doc.entity(_id("rule", rule_id), {"prov:type": "prov:Plan", "prov:label": label})
                doc.hadMember(kb_entity, plans[rule_id])
            doc.wasAssociatedWith(activity, engine, plans[rule_id])
            firings[key] = activity
        return firings[key]

    for fact in result["facts"]:
        if fact.get("derived_from"):
            for source in fact["derived_from"]:
                if source in known:
                    doc.wasDerivedFrom(known[fact["id"]], known[source])
        if fact.get("rule"):
            activity = firing(fact["rule"], fact["id"])
            doc.wasGeneratedBy(known[fact["id"]], activity)
    for conclusion in result["conclusions"]:
        entity = doc.entity(_id("conclusion", conclusion["code"]),
                            {"prov:type": f"bmdkb:{conclusion['kind']}", "prov:label": conclusion["code"],
                             "prov:value": conclusion["statement"]})
        known[conclusion["code"]] = entity
    for conclusion in result["conclusions"]:
        entity = known[conclusion["code"]]
        activity = firing(conclusion["rule"], conclusion["code"])
        doc.wasGeneratedBy(entity, activity)
        for because in conclusion.get("because", []):
            if because in known:
                doc.used(activity, known[because])
                doc.wasDerivedFrom(entity, known[because])
        for citation in conclusion.get("citations", []):
            title = (source_titles or {}).get(citation["source"], citation["source"])
            key = hashlib.sha256(citation["quote"].encode("utf-8")).hexdigest()[:12]   # one entity per passage
            if key not in passages:
                passages[key] = doc.entity(_id("source", f"{citation['source']}.{key}"),
                                           {"prov:label": f"{title}, section {citation.get('section')}",
                                            "prov:value": citation["quote"]})
            passage = passages[key]
            doc.hadPrimarySource(entity, passage)
    return doc


def to_json(result: dict, file: str, source_titles: dict | None = None) -> str:
    """The PROV-JSON text of one result document."""
    return to_prov(result, file, source_titles).serialize(format="json", indent=2) + "\n"
