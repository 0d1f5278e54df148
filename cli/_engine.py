"""Everything the command line takes from the engine, named once: cli modules import engine
things only from here (``from bmdkb.cli._engine import Evaluator``), so the boundary between
the two is this one file. When the engine's public API (bmdkb.engine.api) lands, the targets
below point there instead.

Names resolve on first use (PEP 562 ``__getattr__``), so ``bmdkb --help`` and a command that
needs little import little (lazy: start-up time).
"""
from __future__ import annotations

import importlib

_NAMES = {
    # exit statuses, errors
    "exitstatus": ("bmdkb.engine.common", "exitstatus"),
    "BmdkbError": ("bmdkb.engine.common.errors", "BmdkbError"),
    "Problem": ("bmdkb.engine.common.errors", "Problem"),
    # knowledge base: where it is, loading it
    "KB_ENV_VAR": ("bmdkb.engine.kb.knowledge_base", "ENV_VAR"),
    "kbroot": ("bmdkb.engine.kb", "root"),
    "kbcache": ("bmdkb.engine.kb", "cache"),
    # cases and evaluation
    "read_case": ("bmdkb.engine.adapters.dxa.adapter", "read_case"),
    "validate_case": ("bmdkb.engine.adapters.dxa.adapter", "validate_case"),
    "summary_lines": ("bmdkb.engine.adapters.dxa.adapter", "summary_lines"),
    "Evaluator": ("bmdkb.engine.run.evaluate", "Evaluator"),
    "document": ("bmdkb.engine.run", "document"),
    "validate": ("bmdkb.engine.run.validate", "validate"),
    "engine_batch": ("bmdkb.engine.run", "batch"),
    # explanations
    "explainer": ("bmdkb.engine.explain", "explainer"),
    # authoring: lint, rule tests, release, diff
    "lint": ("bmdkb.engine.authoring", "lint"),
    "read_contract": ("bmdkb.engine.authoring.contract", "read_contract"),
    "rule_tests": ("bmdkb.engine.authoring", "rule_tests"),
    "release": ("bmdkb.engine.authoring", "release"),
    "kbdiff": ("bmdkb.engine.authoring", "diff"),
    # editorial review
    "governance": ("bmdkb.engine.review", "governance"),
    "ledger": ("bmdkb.engine.review", "ledger"),
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    """Import the engine module behind ``name`` on first use and keep the object here."""
    try:
        module, attr = _NAMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    try:
        value = getattr(importlib.import_module(module), attr)
    except AttributeError:   # a submodule not imported yet
        value = importlib.import_module(f"{module}.{attr}")
    globals()[name] = value
    return value
