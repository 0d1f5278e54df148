"""Shared fixtures: the shipped knowledge base, a small one to break on purpose, a CLI runner."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import re

import pytest
from click.testing import CliRunner

from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.run.evaluate import Evaluator

# The suite must give the same verdict in any environment, so the variables that change what
# bmdkb does are neutralised here, for the whole session and every subprocess it starts:
#   BMDKB_KB    would point every command without --kb at another knowledge base
#               (test_cli.py::test_kb_option_and_environment_variable sets it on purpose);
#   BMDKB_NOW   would move the governance clock (tests that need a clock set it or pass `now`);
#   BMDKB_CACHE_DIR / BMDKB_NO_CACHE: tests load knowledge bases fresh (several patch the loader);
#               the on-disk cache has its own tests in test_fast_paths.py, in a tmp folder.
NEUTRALISED = ("BMDKB_KB", "BMDKB_NOW", "BMDKB_CACHE_DIR")
for _name in NEUTRALISED:
    os.environ.pop(_name, None)
os.environ["BMDKB_NO_CACHE"] = "1"

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = REPO / "knowledge" / "cases"
DEMO_CASE = FIXTURES / "demo-case.yaml"


@pytest.fixture(scope="session")
def kb():
    return knowledge_base.load(REPO)


@pytest.fixture(scope="session")
def evaluator(kb):
    return Evaluator(kb)


@pytest.fixture
def mini_kb_root(tmp_path) -> Path:
    """A writable copy of the small fixture knowledge base (4 rules)."""
    root = tmp_path / "mini-kb"
    shutil.copytree(FIXTURES / "mini-kb", root)
    return root


@pytest.fixture
def akb(mini_kb_root) -> Path:
    """The small knowledge base made lint-clean for authoring tests (tests/authoring_kb.py)."""
    import authoring_kb

    return authoring_kb.build(mini_kb_root)


@pytest.fixture
def shipped_kb_copy(tmp_path) -> Path:
    """A writable copy of the shipped knowledge base root."""
    root = tmp_path / "kb"
    shutil.copytree(REPO / "knowledge", root / "knowledge")
    shutil.copytree(REPO / "provenance", root / "provenance")
    return root


ROOT_LINE = re.compile(rb"knowledge base: [^\n]* \((from --kb|from \$BMDKB_KB|the current directory|"
                       rb"the installed package)\)\n")


class ReportRunner(CliRunner):
    """A CliRunner whose results leave out the one `knowledge base: ROOT (origin)` line every
    command writes first to stderr, so tests of a report compare the report; the line itself is
    tested in test_kb_root.py with a plain CliRunner."""

    def invoke(self, *args, **kwargs):
        result = super().invoke(*args, **kwargs)
        result.stderr_bytes = ROOT_LINE.sub(b"", result.stderr_bytes, count=1)
        result.output_bytes = ROOT_LINE.sub(b"", result.output_bytes, count=1)
        return result


@pytest.fixture
def runner():
    return ReportRunner()
