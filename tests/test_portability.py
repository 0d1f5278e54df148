"""Portability: no POSIX-only module at import time, registered sources byte-exact on any
checkout, and a suite whose verdict does not depend on the caller's environment."""
from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bmdkb.cli.main import cli

from conftest import DEMO_CASE, REPO

# Modules that exist only on POSIX: one imported at the top of a module breaks every command on Windows.
POSIX_ONLY = ("fcntl", "termios", "resource", "pwd", "grp")


def bmdkb_modules() -> list[str]:
    names = []
    for package in ("bmdkb.engine", "bmdkb.cli"):
        module = __import__(package, fromlist=["_"])
        names += [package] + [m.name for m in pkgutil.walk_packages(module.__path__, f"{package}.")]
    return sorted(names)


def test_no_module_needs_a_posix_only_module_to_import(tmp_path):
    modules = bmdkb_modules()
    assert {"bmdkb.engine.review.ledger", "bmdkb.engine.run.batch", "bmdkb.cli.main", "bmdkb.cli.commands.review"} <= set(modules)
    # A fresh interpreter in which importing a POSIX-only module fails, as on Windows: every bmdkb
    # module must import, and the review ledger (which needs a cross-process lock) must still work.
    script = f"""
import importlib, sys
for name in {POSIX_ONLY!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
for name in {modules!r}:
    importlib.import_module(name)
from bmdkb.engine.review import ledger
with ledger.writing(sys.argv[1]) as session:
    session.append({{"time": "2026-03-01T09:00:00Z", "action": "submit", "rule": "check.x", "rule_version": 1,
                     "rule_digest": "sha256:" + "ab" * 32, "by": "Dr Ada Reviewer", "note": None}})
print(len(ledger.verify(sys.argv[1]).entries))
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "review-ledger.jsonl")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1\n"


# ---------------------------------------------------------------- byte-exact registered sources

def registered_sources() -> list[str]:
    """Every registered source text in the repository (shipped and fixture copies), repo-relative."""
    found = []
    records = sorted((REPO / "provenance" / "sources").glob("*.yaml"))
    records += sorted((REPO / "tests" / "fixtures").glob("**/provenance/sources/*.yaml"))
    for record in records:
        meta = yaml.safe_load(record.read_text(encoding="utf-8"))
        found.append((record.parent / meta["text_file"]).relative_to(REPO).as_posix())
    return found


def check_attr(scratch: Path, paths: list[str]) -> dict:
    """What git makes of REPO/.gitattributes for ``paths`` (in a scratch repository, so this holds
    for any copy of the source tree, git checkout or not)."""
    subprocess.run(["git", "init", "-q", str(scratch)], check=True)
    shutil.copy(REPO / ".gitattributes", scratch / ".gitattributes")
    out = subprocess.run(["git", "-C", str(scratch), "check-attr", "text", "eol", "--", *paths],
                         check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        path, attr, value = line.rsplit(": ", 2)
        found.setdefault(path, {})[attr] = value
    return found


def test_every_registered_source_is_checked_out_byte_exact(tmp_path):
    sources = registered_sources()
    assert "provenance/sources/discordant-bmd-article.txt" in sources
    assert "tests/fixtures/mini-kb/provenance/sources/discordant-bmd-article.txt" in sources
    ledgers = ["provenance/review-ledger.jsonl", "tests/fixtures/mini-kb/provenance/review-ledger.jsonl",
               "provenance/roster-log.jsonl"]
    content = ["knowledge/kb.yaml", "knowledge/rules/pattern/pattern.spine_up_hip_down.yaml",
               "provenance/sources/discordant-bmd-article.yaml", "schemas/case.schema.json"]
    attrs = check_attr(tmp_path / "scratch", sources + ledgers + content)
    for path in sources + ledgers:  # never converted, whatever core.autocrlf says
        assert attrs[path]["text"] == "unset", (path, attrs[path])
    for path in content:  # hashed into the knowledge-base digest: LF on every platform
        assert attrs[path] == {"text": "auto", "eol": "lf"}, (path, attrs[path])


def test_a_source_converted_to_crlf_is_a_clear_exit_2(mini_kb_root, runner):
    text = mini_kb_root / "provenance/sources/discordant-bmd-article.txt"
    text.write_bytes(text.read_bytes().replace(b"\n", b"\r\n"))  # what core.autocrlf=true does
    result = runner.invoke(cli, ["evaluate", str(DEMO_CASE), "--kb", str(mini_kb_root)])
    assert result.exit_code == 2 and result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: provenance/sources/discordant-bmd-article.yaml: sha256: the text file's "
                            "sha256 is ")
    assert first.endswith(": provenance/sources/discordant-bmd-article.txt has CRLF line endings, so it was "
                          "converted on checkout or by an editor; restore its exact bytes (.gitattributes "
                          "keeps registered sources -text)")
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- the suite and its environment

def test_the_suite_ignores_the_callers_bmdkb_environment(tmp_path):
    """Tests that rely on the defaults pass with BMDKB_KB, BMDKB_NOW and BMDKB_CACHE_DIR set in the
    caller's shell (conftest clears them); these three failed before it did."""
    other = tmp_path / "other-kb"
    shutil.copytree(REPO / "tests" / "fixtures" / "mini-kb", other)
    env = {**os.environ, "BMDKB_KB": str(other), "BMDKB_NOW": "2031-01-01",
           "BMDKB_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("BMDKB_NO_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO),
         f"{REPO}/tests/test_cli.py::test_json_result_follows_the_contract",
         f"{REPO}/tests/test_cli.py::test_markdown_output",
         f"{REPO}/tests/test_release_diff.py::test_the_shipped_knowledge_base_is_exactly_its_release"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stdout.splitlines()[-1].startswith("3 passed")
    assert not (tmp_path / "cache").exists()
