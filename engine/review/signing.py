"""Ed25519 signatures for the review ledger, the roster log and release manifests, through the
`cryptography` library (one place that knows the algorithm and the key formats).

A public key is written ``ed25519:<base64 of the raw 32 bytes>`` (the form knowledge/board.yaml
holds); a signature ``ed25519:<base64 of the raw 64 bytes>``. A private key is a PKCS#8 PEM
file, unencrypted, mode 0600, kept outside the repository (``write_private_key`` refuses a path
inside the knowledge-base root or its git work tree, and ``load_private_key`` refuses a key file
other users can read, as OpenSSH does).

What is signed is ``payload(kind, document)``: a domain tag naming the kind of document
("bmdkb ledger-entry v1", "bmdkb roster v1", "bmdkb release-manifest v1") and the canonical JSON
(sorted keys, no spaces, UTF-8) of the document without its ``hash`` and ``signature`` fields,
so a signature made for one kind can never be replayed as another.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from bmdkb.engine.common.errors import BmdkbError, Problem

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def _crypto():
    """cryptography's exceptions, serialization and ed25519 modules, imported on first use: a cold
    `evaluate` whose ledger verdict is cached signs and checks nothing, so it never pays the ~15 ms."""
    from cryptography import exceptions
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    return exceptions, serialization, ed25519

PREFIX = "ed25519:"
KEY_VAR = "BMDKB_SIGNING_KEY"
UNSIGNED_FIELDS = ("hash", "signature")


class SigningError(BmdkbError):
    """A signing key that is missing, unreadable, malformed or not allowed where it was given (exit 2)."""


@dataclass(frozen=True)
class Signer:
    """A private key loaded for signing, with its public key in roster form and where it came from."""

    key: Ed25519PrivateKey
    public: str          # ed25519:<base64>
    source: str          # the file it was read from, for messages

    def sign(self, data: bytes) -> str:
        """The signature of ``data``, as ``ed25519:<base64>``."""
        return PREFIX + base64.b64encode(self.key.sign(data)).decode("ascii")


def public_text(key: Ed25519PublicKey) -> str:
    """``ed25519:<base64 raw 32 bytes>`` of a public key."""
    _, serialization, _ = _crypto()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def _decode(text, size: int) -> bytes | None:
    if not isinstance(text, str) or not text.startswith(PREFIX):
        return None
    try:
        raw = base64.b64decode(text[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def well_formed_public(text) -> bool:
    """Whether ``text`` is a public key in roster form (``ed25519:`` and 32 bytes in base64)."""
    return _decode(text, 32) is not None


def payload(kind: str, document: dict) -> bytes:
    """The bytes a signature over ``document`` covers (see the module docstring)."""
    body = {k: v for k, v in document.items() if k not in UNSIGNED_FIELDS}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"bmdkb {kind} v1\n".encode("ascii") + text.encode("utf-8")


def valid(public: str | None, data: bytes, signature) -> bool:
    """Whether ``signature`` is ``public``'s Ed25519 signature of ``data``."""
    raw_key, raw_sig = _decode(public, 32), _decode(signature, 64)
    if raw_key is None or raw_sig is None:
        return False
    exceptions, _, ed25519 = _crypto()
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw_key).verify(raw_sig, data)
    except (exceptions.InvalidSignature, ValueError):
        return False
    return True


def generate() -> Ed25519PrivateKey:
    """A new Ed25519 private key."""
    return _crypto()[2].Ed25519PrivateKey.generate()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _work_tree(root: Path) -> Path | None:
    """The git work tree holding ``root`` (a folder with .git at or above it), if any."""
    for folder in (root, *root.parents):
        if (folder / ".git").exists():
            return folder
    return None


def write_private_key(key: Ed25519PrivateKey, out, kb_root, where: str = "--out") -> Path:
    """Write ``key`` to ``out`` as PKCS#8 PEM with mode 0600; refuse (SigningError) a path inside
    the knowledge-base root or its git work tree, or a file that already exists."""
    out = Path(out).expanduser()
    target = out.parent.resolve() / out.name
    root = Path(kb_root).resolve()
    for folder, what in ((root, "the knowledge-base root"), (_work_tree(root), "the repository")):
        if folder is not None and _inside(target, folder):
            raise SigningError(Problem(str(out), where, f"is inside {what} ({folder}): a private key never enters "
                                                        "the repository; write it to your home directory, e.g. "
                                                        "~/.bmdkb/NAME.key"))
    if os.path.lexists(target):
        raise SigningError(Problem(str(out), where, "already exists: refusing to overwrite a key"))
    if not target.parent.is_dir():
        raise SigningError(Problem(str(out), where, f"no such folder: {target.parent}"))
    _, serialization, _ = _crypto()
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return target


def load_private_key(path, where: str = "--key") -> Signer:
    """The Ed25519 key in the PEM file at ``path``; SigningError naming the file when it is missing,
    readable by other users (POSIX), or not an unencrypted Ed25519 private key."""
    path = Path(path).expanduser()
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(Problem(str(path), where, f"cannot read the signing key: {exc.strerror or exc}")) from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningError(Problem(str(path), where, f"the signing key is readable by other users (mode "
                                                     f"{stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it"))
    _, serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(Problem(str(path), where, f"not an unencrypted PEM private key ({exc})")) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SigningError(Problem(str(path), where, "not an Ed25519 key (make one with `bmdkb review keygen`)"))
    return Signer(key, public_text(key.public_key()), str(path))


def key_file(given: str | None) -> str | None:
    """The signing-key file to use: ``given`` (--key), else $BMDKB_SIGNING_KEY, else None."""
    return given or os.environ.get(KEY_VAR, "").strip() or None
