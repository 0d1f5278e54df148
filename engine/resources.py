"""Where bmdkb's own folders are: the one module that knows the package layout.

In a checkout these are the top-level folders; installed, they sit under the one `bmdkb`
package (pyproject.toml maps them there), so both are found from this file's place.
"""
from __future__ import annotations

from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent      # the engine's code (part of the checked-KB cache key)
PACKAGE_ROOT = ENGINE_DIR.parent                  # the checkout root, or site-packages/bmdkb
SCHEMA_DIR = PACKAGE_ROOT / "schemas"
