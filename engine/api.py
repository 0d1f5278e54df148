"""The engine's public API: everything the command line (cli/) uses, and nothing else.

Re-exports only; each name is the object of the module listed in ``EXPORTS``. Names resolve
on first use (PEP 562 ``__getattr__``), so ``from bmdkb.engine import api`` costs nothing and
``bmdkb --help`` never imports durable_rules, jsonschema or a case adapter. ``from
bmdkb.engine.api import X`` imports X's module at that moment, exactly as importing it
directly would.

Grouped by use:

- errors and exit statuses: ``BmdkbError``, ``Problem``, ``KnowledgeBaseError``, ``CaseError``,
  ``exitstatus`` (the module: OK, FINDINGS, BAD_INPUT, DEFECT, INTERRUPTED, epilog), ``load_yaml_file``
  (a YAML or JSON file read safely, under the input limits: the service's settings),
  ``fastjson``
  (JSON output byte-identical to the standard library's, through orjson);
- the knowledge base: ``load_kb`` (load and check a root), ``load_checked_kb`` (the same through
  the checked-KB cache), ``kb_identity`` and ``TEST_REPORT_KEYS`` (a knowledge base's identity
  block, engine/kb/identity.py), ``ENV_VAR``, the modules ``knowledge_base``, ``kbroot`` (which root a
  command uses) and ``kbcache``;
- cases and evaluation: ``read_case``, ``parse_case``, ``adapter_for`` (the case adapter a KB
  names), ``adapter_named``, ``DEFAULT_ADAPTER``, ``Evaluator``, ``Evaluation``, the module
  ``document`` (the typed result document), ``validate`` (the `validate` command's checks);
- FHIR: ``is_fhir_bundle``, ``case_from_bundle``, ``evaluate_bundle`` (a Bundle evaluated, facts
  at their FHIR paths), ``fhir_binding`` (the KB's binding: ``loinc_codes``), ``read_facility``
  (``--facility FILE``), ``fhir_output`` (``--format fhir``), ``preload_fhir_models`` (a
  service's start: the FHIR models loaded before the first call);
- explanation: the module ``explainer`` (explain, check_code, short_why), ``short_why`` and
  ``words`` (a vocabulary name in words, for renderers);
- authoring: ``lint``, ``LINT_CHECKS``, ``LINT_SEVERITIES``, ``lint_failing``, the modules
  ``engine_lint``, ``rule_tests``, ``kbdiff`` and ``release``, ``read_contract``, ``make_release``,
  ``verify_release``, ``CHANGELOG``, ``MANIFEST``;
- review: the modules ``governance``, ``ledger``, ``rosterlog`` (adopted rosters), ``signing`` (Ed25519
  keys and signatures) and ``release_anchor`` (the ledger head in a release manifest);
- the board's web page: ``board_app`` (the ASGI application), ``BoardConfig``, the modules
  ``board_sessions`` (sign-in codes) and ``board_decisions`` (the write checks decisions make), and
  ``Roster`` (the board's members);
- batch: the module ``batch`` (also as ``engine_batch``).
"""
from __future__ import annotations

import importlib

# public name -> (module, attribute); attribute None re-exports the module itself.
EXPORTS: dict[str, tuple[str, str | None]] = {
    # errors and exit statuses
    "BmdkbError": ("bmdkb.engine.common.errors", "BmdkbError"),
    "Problem": ("bmdkb.engine.common.errors", "Problem"),
    "KnowledgeBaseError": ("bmdkb.engine.common.errors", "KnowledgeBaseError"),
    "CaseError": ("bmdkb.engine.common.errors", "CaseError"),
    "exitstatus": ("bmdkb.engine.common.exitstatus", None),
    "load_yaml_file": ("bmdkb.engine.common.yamlio", "load_file"),
    "fastjson": ("bmdkb.engine.common.fastjson", None),
    # the knowledge base
    "knowledge_base": ("bmdkb.engine.kb.knowledge_base", None),
    "load_kb": ("bmdkb.engine.kb.knowledge_base", "load"),
    "ENV_VAR": ("bmdkb.engine.kb.knowledge_base", "ENV_VAR"),
    "KB_ENV_VAR": ("bmdkb.engine.kb.knowledge_base", "ENV_VAR"),
    "kbroot": ("bmdkb.engine.kb.root", None),
    "kbcache": ("bmdkb.engine.kb.cache", None),
    "kb_identity": ("bmdkb.engine.kb.identity", "identity"),
    "TEST_REPORT_KEYS": ("bmdkb.engine.kb.identity", "TEST_REPORT_KEYS"),
    "load_checked_kb": ("bmdkb.engine.kb.cache", "load"),
    # cases and evaluation
    "read_case": ("bmdkb.engine.run.cases", "read_case"),
    "parse_case": ("bmdkb.engine.run.cases", "parse_case"),
    "adapter_for": ("bmdkb.engine.adapters", "for_kb"),
    "adapter_named": ("bmdkb.engine.adapters", "named"),
    "DEFAULT_ADAPTER": ("bmdkb.engine.adapters", "DEFAULT"),
    "Evaluator": ("bmdkb.engine.run.evaluate", "Evaluator"),
    "Evaluation": ("bmdkb.engine.run.evaluate", "Evaluation"),
    "rule_engines": ("bmdkb.engine.run.engines", None),
    "ENGINES": ("bmdkb.engine.run.engines", "ENGINES"),
    "DEFAULT_ENGINE": ("bmdkb.engine.run.engines", "DEFAULT"),
    "document": ("bmdkb.engine.run.document", None),
    "validate": ("bmdkb.engine.run.validate", "validate"),
    # FHIR input and output
    "is_fhir_bundle": ("bmdkb.engine.fhir.evaluate", "is_fhir_bundle"),
    "evaluate_bundle": ("bmdkb.engine.fhir.evaluate", "evaluate_bundle"),
    "case_from_bundle": ("bmdkb.engine.fhir.evaluate", "case_from_bundle"),
    "fhir_binding": ("bmdkb.engine.fhir.evaluate", "fhir_binding"),
    "read_facility": ("bmdkb.engine.fhir.evaluate", "read_facility"),
    "fhir_output": ("bmdkb.engine.fhir.output", "fhir_output"),
    "preload_fhir_models": ("bmdkb.engine.fhir.models", "preload"),
    # explanation
    "explainer": ("bmdkb.engine.explain.explainer", None),
    "short_why": ("bmdkb.engine.explain.explainer", "short_why"),
    "words": ("bmdkb.engine.explain.wording", "words"),
    # authoring
    "lint": ("bmdkb.engine.authoring.lint", "lint"),
    "LINT_CHECKS": ("bmdkb.engine.authoring.lint", "CHECKS"),
    "LINT_SEVERITIES": ("bmdkb.engine.authoring.lint", "SEVERITIES"),
    "lint_failing": ("bmdkb.engine.authoring.lint", "failing"),
    "rule_tests": ("bmdkb.engine.authoring.rule_tests", None),
    "kbdiff": ("bmdkb.engine.authoring.diff", None),
    "engine_lint": ("bmdkb.engine.authoring.lint", None),
    "read_contract": ("bmdkb.engine.authoring.contract", "read_contract"),
    "release": ("bmdkb.engine.authoring.release", None),
    "make_release": ("bmdkb.engine.authoring.release", "make_release"),
    "verify_release": ("bmdkb.engine.authoring.release", "verify_release"),
    "CHANGELOG": ("bmdkb.engine.authoring.release", "CHANGELOG"),
    "MANIFEST": ("bmdkb.engine.authoring.release", "MANIFEST"),
    # review
    "governance": ("bmdkb.engine.review.governance", None),
    "ledger": ("bmdkb.engine.review.ledger", None),
    "rosterlog": ("bmdkb.engine.review.rosterlog", None),
    "signing": ("bmdkb.engine.review.signing", None),
    "release_anchor": ("bmdkb.engine.authoring.release_anchor", None),
    # the board's web page
    "board_app": ("bmdkb.engine.board.app", "create_app"),
    "BoardConfig": ("bmdkb.engine.board.config", "BoardConfig"),
    "board_sessions": ("bmdkb.engine.board.sessions", None),
    "board_decisions": ("bmdkb.engine.board.decisions", None),
    "Roster": ("bmdkb.engine.review.roster", "Roster"),
    # batch
    "batch": ("bmdkb.engine.run.batch", None),
    "engine_batch": ("bmdkb.engine.run.batch", None),
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str):
    """Resolve a public name on first use (and keep it, so the next use is a plain lookup)."""
    try:
        module, attribute = EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (for dir() and completion), resolved or not."""
    return __all__
