"""Safe reading of YAML and JSON documents.

Only plain data is ever built: SafeLoader refuses tags that construct objects,
and duplicate keys are refused too, since YAML would silently keep the last.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import yaml

from .errors import BmdkbError, Problem


# The C parser when PyYAML has it; the constructor (and so the safety) is SafeLoader's.
class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _plain_dates(value):
    """YAML turns ISO dates into date objects; JSON does not. Make both strings."""
    if isinstance(value, dict):
        return {k: _plain_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_dates(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def parse_text(text: str, name: str, error: type[BmdkbError] = BmdkbError, as_json: bool = False):
    """Parse YAML (JSON is YAML too) into plain data, or raise ``error`` naming ``name``."""
    try:
        if as_json:
            return json.loads(text)
        return _plain_dates(yaml.load(text, Loader=_StrictLoader))  # noqa: S506 - strict SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise error(Problem(name, "", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise error(Problem(name, "", f"not plain YAML data: {exc.problem}{where}")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(Problem(name, "", f"not valid YAML or JSON: {problem}{where}")) from None


def load_file(path: Path, error: type[BmdkbError] = BmdkbError, display: str | None = None):
    """Read and parse one file; a missing or unreadable file is a user error too."""
    name = display or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(Problem(name, "", "no such file")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(Problem(name, "", f"cannot be read: {exc}")) from None
    return parse_text(text, name, error, as_json=str(path).endswith(".json"))
