"""Every public definition of bmdkb.engine, bmdkb.cli and bmdkb.service has a docstring.

Public: a module-level function or class, or a method of a public class, whose name does not
start with an underscore. No file is exempt.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "cli", "service")


def public_definitions(path: Path):
    """(qualified name, line) of each public function, class and public method of a public class."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if not isinstance(node, kinds) or node.name.startswith("_"):
            continue
        yield node.name, node
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


def missing_docstrings() -> list[str]:
    """``file:line name`` of every public definition without a docstring."""
    missing = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for name, node in public_definitions(path):
                if ast.get_docstring(node) is None:
                    missing.append(f"{rel}:{node.lineno} {name}")
    return missing


def test_every_public_definition_has_a_docstring():
    assert missing_docstrings() == []

