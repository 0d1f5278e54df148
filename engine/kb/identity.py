"""Which knowledge base an output came from: the one place its identity block is made.

Each output names the knowledge base with the keys its contract has always used, and those
are never renamed (the JSON result contract, /spec/conclusions.md): a result and a batch run
record say ``name``, ``version`` and ``digest``; a release manifest ``name`` and ``digest``;
the review board ``name``, ``release`` and ``rules``; a diff side ``release`` and ``digest``;
a rule-test report ``version`` and ``digest``. ``version`` and ``release`` are the same value
(kb.yaml's ``release``). Every block is made here, from the same values.
"""
from __future__ import annotations

RESULT_KEYS = ("name", "version", "digest")       # results, batch run records
MANIFEST_KEYS = ("name", "digest")                # release manifests
REVIEW_KEYS = ("name", "release", "rules")        # the review board
DIFF_KEYS = ("release", "digest")                 # each side of a diff
TEST_REPORT_KEYS = ("version", "digest")          # `bmdkb test --format json`


def identity(kb, keys: tuple = RESULT_KEYS) -> dict:
    """The identity block of ``kb`` with ``keys``, in that order (name, version or release,
    digest, rules: the number of rules)."""
    values = {"name": lambda: kb.meta["name"], "version": lambda: kb.release, "release": lambda: kb.release,
              "digest": lambda: kb.digest, "rules": lambda: len(kb.rules)}
    return {key: values[key]() for key in keys}
