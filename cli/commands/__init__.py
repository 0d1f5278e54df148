"""The `bmdkb` commands, one module each, in the order `bmdkb --help` has always listed them
(click sorts them by name anyway).

``COMMANDS`` names each command's module and function; cli/main.py imports a command's module
only when that command runs (or ``--help`` lists them all), so `bmdkb evaluate` never loads what
`review`, `lint` or `diff` need (the review ledger, jsonschema, the linter)."""
from __future__ import annotations

import importlib

# command name -> (module, function)
COMMANDS = {
    "evaluate": ("bmdkb.cli.commands.evaluate", "evaluate"),
    "validate": ("bmdkb.cli.commands.validate", "validate"),
    "review": ("bmdkb.cli.commands.review", "review"),
    "explain": ("bmdkb.cli.commands.explain", "explain"),
    "lint": ("bmdkb.cli.commands.lint", "lint"),
    "test": ("bmdkb.cli.commands.test", "test_command"),
    "release": ("bmdkb.cli.commands.release", "release"),
    "diff": ("bmdkb.cli.commands.diff", "diff"),
    "batch": ("bmdkb.cli.commands.batch", "batch"),
    "fhir": ("bmdkb.cli.commands.fhir", "fhir"),
    "serve": ("bmdkb.cli.commands.serve", "serve"),
    "feedback": ("bmdkb.cli.commands.feedback", "feedback"),
    "board": ("bmdkb.cli.commands.board", "board"),
}


def load(name: str):
    """The click command ``name`` (imported on first use), or None when there is no such command."""
    if name not in COMMANDS:
        return None
    module, function = COMMANDS[name]
    return getattr(importlib.import_module(module), function)
