"""Every documented input limit, in one place: case files and knowledge-base files are
read under the same bounds (engine/yamlio.py), rule conditions under the rule engine's
(engine/kb/reader.py, lint's engine-limit check), and every message is bounded.

The figures are in the README's "Limits and the fuzz suite" table, with how the rule
engine's were measured (durable_rules 2.0.28).
"""
from __future__ import annotations

MAX_FILE_BYTES = 1_048_576      # one case or knowledge-base file (or JSON Lines line); real ones are < 20 KB
MAX_DEPTH = 32                  # nesting of mappings and lists in one document; a case needs 5
MAX_ALIASES = 100               # YAML alias uses (*name) in one document; shipped files use none
MAX_MESSAGE_CHARS = 500         # one problem's message (values quoted in it are cut, and say so)
MAX_FIELD_CHARS = 200           # one problem's field path
MAX_PROBLEMS = 50               # problems listed per error; the rest are counted

# The rule engine (durable_rules 2.0.28, measured: README): one `in:` list of 513 values
# makes compilation hang forever (512 compile), and `any:` nested 5 deep is refused by it
# (error 113) while 4 compiles. The limits leave a margin below both.
MAX_IN_VALUES = 256
MAX_ANY_DEPTH = 3


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 10)
    return f"{text[:keep]}… ({len(text) - keep} more characters)"
