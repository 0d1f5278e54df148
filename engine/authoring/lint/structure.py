"""Checks on files as files: they parse, match their schema, and ids are unique."""
from __future__ import annotations

from bmdkb.engine.authoring.lint.registry import check, found_while_reading

check("schema", "error", "a file does not parse or does not match its JSON Schema")(
    found_while_reading("schema"))
check("duplicate-id", "error", "two rules, parameters, facts or references share an id")(
    found_while_reading("duplicate-id"))
check("rule-structure", "error",
      "a rule refers to something it does not have: a stage, an alias, a parameter, a fact, its file name")(
    found_while_reading("rule-structure"))
check("engine-limit", "error",
      "a condition the rule engine cannot run: an `in` list or `any` nesting over engine/limits.py's limits, "
      "or one durable_rules refuses to compile")(found_while_reading("engine-limit"))
check("outside-root", "error",
      "a knowledge-base file (a registered source's text included) resolves outside the root: a symlink or ../ path")(
    found_while_reading("outside-root"))
check("source-text-mismatch", "error", "a registered source's text file is missing or not the registered bytes")(
    found_while_reading("source-text-mismatch"))


@check("load-error", "error", "the knowledge base does not load for a reason no other check reports")
def _load_error(draft):  # filled in by lint() itself, which runs load()
    return ()
