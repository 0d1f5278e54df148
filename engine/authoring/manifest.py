"""The release manifest's place and its reading, shared by release (which writes it) and lint
(which compares the content with it), so neither imports the other for it."""
from __future__ import annotations

from pathlib import Path

from bmdkb.engine.common.errors import KnowledgeBaseError
from bmdkb.engine.common.yamlio import load_file
from bmdkb.engine.kb import schemas

MANIFEST = "knowledge/release-manifest.yaml"


def read_manifest(root) -> dict | None:
    """The current release manifest of the knowledge base at ``root``, validated (None when
    there is none); KnowledgeBaseError naming the field when it does not match its schema."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    data = load_file(path, KnowledgeBaseError, MANIFEST)
    found = schemas.problems("release-manifest", data, MANIFEST)
    if found:
        raise KnowledgeBaseError(found)
    return data
