"""Checks against the conclusions contract: every promised code is produced, with its kind."""
from __future__ import annotations

import json
from functools import lru_cache

from bmdkb.engine.kb.schemas import SCHEMA_DIR
from bmdkb.engine.authoring.lint.registry import check

CONTRACT_FILE = "conclusion-codes.json"


@lru_cache(maxsize=None)
def _load() -> tuple:
    data = json.loads((SCHEMA_DIR / CONTRACT_FILE).read_text(encoding="utf-8"))
    return tuple((c["code"], c["kind"]) for c in data["codes"])


def contract_codes() -> list[dict]:
    """The contract's codes and kinds (schemas/conclusion-codes.json)."""
    return [{"code": code, "kind": kind} for code, kind in _load()]


@check("contract-code-missing", "error", "a conclusion code of the contract is concluded by no rule")
def code_missing(draft):
    """Contract conclusion codes that no rule concludes."""
    concluded = {r.concludes for r in draft.kb.rules.values()}
    for entry in draft.contract:
        if entry["code"] not in concluded:
            yield f"knowledge/rules/{entry['kind']}", "then.conclude.code", \
                f"no rule concludes the contract code {entry['code']} ({entry['kind']})"


@check("contract-kind-mismatch", "error", "a rule concludes a contract code under another kind than the contract's")
def kind_mismatch(draft):
    """Rules concluding a contract code under a different kind than the contract gives it."""
    kinds = {e["code"]: e["kind"] for e in draft.contract}
    for rule in draft.kb.rules.values():
        if rule.concludes in kinds and rule.kind != kinds[rule.concludes]:
            yield rule.file, "kind", \
                f"{rule.concludes} is a {kinds[rule.concludes]} conclusion in the contract, but this rule's kind is {rule.kind}"


@check("code-outside-contract", "info", "a rule concludes a code the contract does not list (allowed: codes may be added)")
def outside_contract(draft):
    """Rules concluding a code the contract does not list (informational)."""
    codes = {e["code"] for e in draft.contract}
    for rule in draft.kb.rules.values():
        if rule.concludes and rule.concludes not in codes:
            yield rule.file, "then.conclude.code", f"{rule.concludes} is not a contract code"
