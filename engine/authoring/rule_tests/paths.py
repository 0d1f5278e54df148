"""Input paths of a test case's ``set``/``unset`` edits (``scans[1].sites.total_hip``): parse one,
and set or remove the value it names in a case. Kept apart so one field-path syntax can serve
every module that reads such paths."""
from __future__ import annotations

import copy

from bmdkb.engine.common import fieldpath
from bmdkb.engine.kb import schemas

_parse_path = fieldpath.split   # ``scans[1].sites.total_hip`` -> ['scans', 1, 'sites', 'total_hip']; None when malformed


def _walk(doc, tokens: list, create: bool) -> tuple[object, str]:
    """The container holding the last token (creating mappings when asked), or raise ValueError."""
    current, walked = doc, []
    for token, following in zip(tokens[:-1], tokens[1:]):
        here = schemas.field_path(walked) or "the case"
        if isinstance(token, int):
            if not isinstance(current, list):
                raise ValueError(f"{here} is not a list")
            if token >= len(current):
                raise ValueError(f"{here} has {len(current)} entries; there is no {schemas.field_path(walked + [token])}")
            current = current[token]
        else:
            if not isinstance(current, dict):
                raise ValueError(f"{here} is not a mapping")
            if token not in current:
                if not create:
                    raise ValueError(f"{schemas.field_path(walked + [token])} is not in the case")
                if isinstance(following, int):
                    raise ValueError(f"{schemas.field_path(walked + [token])} is not in the case; a list cannot be created by index")
                current[token] = {}
            current = current[token]
        walked.append(token)
    return current, schemas.field_path(walked) or "the case"


def _set(doc, tokens: list, value) -> None:
    container, where = _walk(doc, tokens, create=True)
    last = tokens[-1]
    if isinstance(last, int):
        if not isinstance(container, list):
            raise ValueError(f"{where} is not a list")
        if last >= len(container):
            raise ValueError(f"{where} has {len(container)} entries; there is no {schemas.field_path(tokens)}")
    elif not isinstance(container, dict):
        raise ValueError(f"{where} is not a mapping")
    container[last] = copy.deepcopy(value)


def _unset(doc, tokens: list) -> None:
    container, where = _walk(doc, tokens, create=False)
    last = tokens[-1]
    if isinstance(last, int):
        if not isinstance(container, list) or last >= len(container):
            raise ValueError(f"{schemas.field_path(tokens)} is not in the case: nothing to remove")
    elif not isinstance(container, dict) or last not in container:
        raise ValueError(f"{schemas.field_path(tokens)} is not in the case: nothing to remove")
    del container[last]
