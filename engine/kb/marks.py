"""Where in a YAML file a field path is written: the line and column a problem is about.

Only asked for files that have problems, after the file has parsed within the limits of
engine/common/yamlio.py (nesting depth, aliases, size), so a clean knowledge base costs
nothing and a hostile file is never composed here. PyYAML's composer gives each node its
start mark; a mapping entry is located at its key, a list item at the item. A path that
goes further than the file does (a required field that is missing) is located at the
deepest part of it that is written (for a missing top-level field, the document).
"""
from __future__ import annotations

import yaml

from bmdkb.engine.common import fieldpath

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def marks(text: str) -> dict:
    """Field path -> (line, column), both 1-based, of every node of the YAML document ``text``
    ("" is the document itself); empty when it does not compose."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return {}
    out: dict = {}
    if root is None:
        return out
    seen = set()
    todo = [(root, [], root.start_mark)]
    while todo:
        node, path, mark = todo.pop()
        out.setdefault(fieldpath.join(path), (mark.line + 1, mark.column + 1))
        if id(node) in seen:   # an anchor used again: its insides are located where first written
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    todo.append((value, path + [key.value], key.start_mark))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                todo.append((item, path + [i], item.start_mark))
    return out


def locate(found: dict, field: str) -> tuple[int, int] | None:
    """The (line, column) of ``field`` in a file's ``marks``, or of the deepest part of it the
    file has (the document itself for a missing top-level field); None when ``field`` is not a
    field path."""
    tokens = fieldpath.split(field) if field else []
    if tokens is None:
        return None
    for end in range(len(tokens), 0, -1):
        where = found.get(fieldpath.join(tokens[:end]))
        if where is not None:
            return where
    return found.get("")
