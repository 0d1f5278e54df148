"""A test case -> the input case it describes: a shipped (or inline) base case, edited."""
from __future__ import annotations

import copy
from pathlib import Path

from bmdkb.engine.authoring.rule_tests.paths import _parse_path, _set, _unset
from bmdkb.engine.common.errors import KnowledgeBaseError, Problem
from bmdkb.engine.common.yamlio import load_file


def _base_case(kb_root: Path, name, test_file: str, where: str, cache: dict | None) -> dict:
    if isinstance(name, dict):
        return copy.deepcopy(name)
    folder = (Path(kb_root) / "knowledge" / "cases").resolve()
    path = (folder / str(name)).resolve()
    if folder not in path.parents:
        raise KnowledgeBaseError(Problem(test_file, where, f"{name!r} is not a file in knowledge/cases/"))
    if cache is not None and path in cache:
        return copy.deepcopy(cache[path])
    if not path.is_file():
        raise KnowledgeBaseError(Problem(test_file, where, f"no case file knowledge/cases/{name}"))
    data = load_file(path, KnowledgeBaseError, f"knowledge/cases/{name}")
    if not isinstance(data, dict):
        raise KnowledgeBaseError(Problem(f"knowledge/cases/{name}", "", "a case must be a mapping"))
    if cache is not None:
        cache[path] = data
    return copy.deepcopy(data)


def derive_case(kb_root, spec: dict, test_file: str = "<inline>", index: int = 0, _cache: dict | None = None) -> dict:
    """The input case a test case describes: its base case with ``unset`` paths removed,
    then ``set`` paths given their values (intermediate mappings are created). A bad path
    raises KnowledgeBaseError naming the test file and the field, e.g. ``cases[2].set.scans[5].date``."""
    prefix = f"cases[{index}]"
    case = _base_case(Path(kb_root), spec.get("case"), test_file, f"{prefix}.case", _cache)
    # Removals first, then new values: each edit is (field of the test file, input path, apply).
    edits = [(f"{prefix}.unset[{j}]", path, lambda tokens: _unset(case, tokens))
             for j, path in enumerate(spec.get("unset") or [])]
    edits += [(f"{prefix}.set.{path}", path, lambda tokens, value=value: _set(case, tokens, value))
              for path, value in (spec.get("set") or {}).items()]
    problems = []
    for field_, path, apply in edits:
        tokens = _parse_path(path)
        if tokens is None:
            problems.append(Problem(test_file, field_, f"{path!r} is not an input path "
                                    "(write it like scans[1].sites.total_hip.bmd_g_cm2)"))
            continue
        try:
            apply(tokens)
        except ValueError as exc:
            problems.append(Problem(test_file, field_, str(exc)))
    if problems:
        raise KnowledgeBaseError(problems)
    return case
