"""Which knowledge-base root a command works on, in one place.

In order: ``--kb DIR``; else ``$BMDKB_KB``; else the current directory when it is a
knowledge-base root (it holds ``knowledge/kb.yaml``), so a command run from a checkout acts
on that checkout and not on the copy pip installed; else, for commands that only read, the
knowledge base installed with bmdkb.

Commands that write (review decisions, release) need a root they can name: the installed
package is never a fallback for them, and a root inside the installed package is refused.
They also refuse to write through a symlink that leads outside the root. Every command says on
stderr which root it used: ``knowledge base: /path (from --kb)``.
"""
from __future__ import annotations

import os
import site
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from bmdkb.engine.common.errors import BmdkbError, Problem
from bmdkb.engine.kb.knowledge_base import ENV_VAR, PACKAGE_ROOT

FROM_OPTION = "from --kb"
FROM_ENV = f"from ${ENV_VAR}"
FROM_CWD = "the current directory"
FROM_PACKAGE = "the installed package"


class RootError(BmdkbError):
    """No usable knowledge-base root for the command, or a write that would leave it (exit 2)."""


@dataclass(frozen=True)
class Root:
    """The knowledge-base root a command uses, and where the choice came from."""

    path: Path        # as given (relative paths stay relative, so messages read as before)
    origin: str       # FROM_OPTION | FROM_ENV | FROM_CWD | FROM_PACKAGE

    def describe(self) -> str:
        """A line naming the root's absolute path and how it was chosen."""
        return f"knowledge base: {os.path.abspath(self.path)} ({self.origin})"


def is_kb_root(path: str | Path) -> bool:
    """Whether the directory holds a knowledge base (has knowledge/kb.yaml)."""
    return (Path(path) / "knowledge" / "kb.yaml").is_file()


def _install_dirs() -> list[str]:
    dirs = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:  # some virtualenv builds lack it
        pass
    try:
        dirs.add(site.getusersitepackages())
    except AttributeError:
        pass
    return [os.path.realpath(d) for d in dirs if d]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def is_installed_package(path: str | Path) -> bool:
    """True when ``path`` is (inside) the installed bmdkb package or any site-packages folder.
    An editable install's package root is the checkout itself (it has pyproject.toml): not installed."""
    real = os.path.realpath(path)
    package = os.path.realpath(PACKAGE_ROOT)
    if _inside(real, package) and not (Path(package) / "pyproject.toml").is_file():
        return True
    return any(_inside(real, d) for d in _install_dirs())


def resolve(option: str | None, from_env: bool = False, write: bool = False, cwd: str | Path | None = None) -> Root:
    """The root a command uses; ``option`` is the --kb value (``from_env``: it came from $BMDKB_KB)."""
    if option:
        root = Root(Path(option), FROM_ENV if from_env else FROM_OPTION)
    elif os.environ.get(ENV_VAR):
        root = Root(Path(os.environ[ENV_VAR]), FROM_ENV)
    else:
        here = Path(cwd) if cwd is not None else Path.cwd()
        if is_kb_root(here):
            root = Root(here, FROM_CWD)
        elif write:
            raise RootError(Problem("--kb", "", "this command writes to a knowledge base and none was named: run it "
                                    "in a knowledge-base root (a folder holding knowledge/kb.yaml), or give --kb DIR "
                                    f"or ${ENV_VAR}; it never writes into the installed package"))
        else:
            root = Root(PACKAGE_ROOT, FROM_PACKAGE)
    if write and is_installed_package(root.path):
        raise RootError(Problem(str(root.path), "", f"is the installed bmdkb package ({root.origin}): refusing to "
                                "write into it; work on a checkout or a copy (--kb DIR or $BMDKB_KB)"))
    return root


def write_target(root: str | Path, relative: str) -> Path:
    """``root/relative``, refused (RootError) when it, or a folder on the way, is a symlink leading
    outside the root: a write must land inside the knowledge base it names."""
    base = os.path.realpath(root)
    target = Path(root) / relative
    real = os.path.realpath(target)
    if not _inside(real, base):
        raise RootError(Problem(relative, "", f"leads outside the knowledge-base root {os.path.abspath(root)} "
                                f"(through a symlink, to {real}): refusing to write there"))
    if is_installed_package(real):
        raise RootError(Problem(relative, "", f"leads into the installed bmdkb package ({real}): refusing to write"))
    return target
