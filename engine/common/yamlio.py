"""Safe reading of YAML and JSON documents, under the limits of engine/limits.py.

Only plain data is ever built: SafeLoader refuses tags that construct objects,
and duplicate keys are refused too (YAML and JSON alike), since both would silently
keep the last. Then one walk over the document (``_plain``) turns YAML dates into
strings and refuses what would crash, hang or exhaust a later stage, naming the field:
nesting deeper than MAX_DEPTH, more than MAX_ALIASES alias uses (an alias bomb is
small as parsed objects but grows exponentially when walked), a recursive alias,
keys that are not non-empty strings, NaN and infinities (JSON has no such numbers),
and values no JSON document has (sets, bytes). Files are refused before they are
opened for reading unless they are regular files (a FIFO would block) of at most
MAX_FILE_BYTES.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import stat
from pathlib import Path

import yaml

from bmdkb.engine.common import fieldpath
from bmdkb.engine.common.errors import BmdkbError, Problem
from bmdkb.engine.common.limits import MAX_ALIASES, MAX_DEPTH, MAX_FILE_BYTES, clip


# The C parser when PyYAML has it; the constructor (and so the safety) is SafeLoader's.
class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


class _NotAKey:
    """Stands for a list or mapping used as a key, so the walk can refuse it naming the field."""

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"<a {self.kind}>"


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)   # merge keys (<<), as SafeLoader's own mapping constructor does
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            key = _NotAKey({list: "list", dict: "mapping"}.get(type(key), type(key).__name__))
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {clip(repr(key), 80)}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


class _Repeated(dict):
    """A JSON object that repeated a key (json.loads keeps the last): refused by the walk."""

    key = ""


def _json_object(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        obj = _Repeated(obj)
        obj.key = repeated
    return obj


class _Refused(Exception):
    """A refusal found by the walk; ``path`` is filled in on the way out."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message, self.path = message, []


def _where(path: list) -> str:
    return fieldpath.join_inner_first(path)   # the walk collects the path innermost first


class _Walk:
    def __init__(self, track_aliases: bool):
        self.track = track_aliases
        self.seen: set = set()        # containers already walked (YAML anchors make them shared)
        self.open: set = set()        # containers on the current path
        self.aliases = 0

    def plain(self, value, depth: int):
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            if math.isfinite(value):
                return value
            raise _Refused(f"{value} is not a number (NaN and infinities are refused)")
        if kind is dict or kind is list:
            if depth >= MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep (the limit)")
            if self.track:
                self._shared(value)
            try:
                if kind is list:
                    out = []
                    for i, item in enumerate(value):
                        try:
                            out.append(self.plain(item, depth + 1))
                        except _Refused as exc:
                            exc.path.append(i)
                            raise
                    return out
                out = {}
                for key, item in value.items():
                    if type(key) is not str:
                        raise _Refused(f"key {clip(repr(key), 80)} is not a string (keys must be non-empty strings)")
                    if not key:
                        raise _Refused("an empty key (keys must be non-empty strings)")
                    try:
                        out[key] = self.plain(item, depth + 1)
                    except _Refused as exc:
                        exc.path.append(key)
                        raise
                return out
            finally:
                if self.track:
                    self.open.discard(id(value))
        if isinstance(value, _Repeated):
            raise _Refused(f"duplicate key {clip(repr(value.key), 80)}")
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        raise _Refused(f"a value of type {type(value).__name__} is not plain data (only mappings, lists, strings, numbers, "
                       "booleans and null)")

    def _shared(self, value) -> None:
        ident = id(value)
        if ident in self.open:
            raise _Refused("a recursive alias (a value that contains itself)")
        if ident in self.seen:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} alias uses (the limit)")
        self.seen.add(ident)
        self.open.add(ident)


def _plain(document, name: str, error: type[BmdkbError], track_aliases: bool):
    try:
        return _Walk(track_aliases).plain(document, 0)
    except _Refused as exc:
        raise error(Problem(name, _where(exc.path), exc.message)) from None


def parse_text(text: str, name: str, error: type[BmdkbError] = BmdkbError, as_json: bool = False):
    """Parse YAML (JSON is YAML too) into plain data, or raise ``error`` naming ``name``."""
    if len(text) > MAX_FILE_BYTES:
        raise error(Problem(name, "", f"larger than {MAX_FILE_BYTES} bytes (the limit)"))
    try:
        if as_json:
            return _plain(json.loads(text, object_pairs_hook=_json_object), name, error, False)
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader subclass
        return _plain(document, name, error, "*" in text)
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
    except RecursionError:
        raise error(Problem(name, "", f"nested more than {MAX_DEPTH} levels deep (the limit)")) from None


def read_bytes(path: Path, error: type[BmdkbError] = BmdkbError, display: str | None = None) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES. Anything else is refused
    before it is opened for reading, so a FIFO or a device never blocks. A missing or
    unreadable file raises OSError (callers word it)."""
    name = display or str(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) else \
            "a device or socket"
        raise error(Problem(name, "", f"not a regular file ({kind})"))
    if info.st_size > MAX_FILE_BYTES:
        raise error(Problem(name, "", f"larger than {MAX_FILE_BYTES} bytes (the limit): {info.st_size} bytes"))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):   # replaced between the two looks
            raise error(Problem(name, "", "not a regular file"))
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise error(Problem(name, "", f"larger than {MAX_FILE_BYTES} bytes (the limit)"))
    return data


def parse_bytes(data: bytes, name: str, error: type[BmdkbError] = BmdkbError, as_json: bool = False):
    """Decode UTF-8 bytes and parse them as YAML (or JSON), or raise ``error`` naming ``name``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(Problem(name, "", f"cannot be read: {exc}")) from None
    return parse_text(text, name, error, as_json)


def load_file(path: Path, error: type[BmdkbError] = BmdkbError, display: str | None = None):
    """Read and parse one file; a missing or unreadable file is a user error too."""
    name = display or str(path)
    try:
        data = read_bytes(Path(path), error, name)
    except FileNotFoundError:
        raise error(Problem(name, "", "no such file")) from None
    except OSError as exc:
        raise error(Problem(name, "", f"cannot be read: {exc}")) from None
    return parse_bytes(data, name, error, as_json=str(path).endswith(".json"))
