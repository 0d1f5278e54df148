"""What the board's browser tests and the README screenshots share: a knowledge-base copy with a
git history and a ledger arranged for the scenario, a real `bmdkb board` process on 127.0.0.1,
the system's Chromium driven by Playwright, and axe-core fetched from the npm registry.

Run as a script, it makes the README's screenshots: ``python tests/board_harness.py docs/``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("BMDKB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE_VERSION = "4.14.1"          # axe-core from the npm registry (MPL-2.0; its LICENSE comes in the package)
AXE_CACHE = Path(os.environ.get("BMDKB_AXE_CACHE") or Path.home() / ".cache" / "bmdkb-test" / f"axe-core-{AXE_VERSION}")
CLEAN_ENV = ("BMDKB_KB", "BMDKB_NOW", "BMDKB_NO_CACHE", "BMDKB_CACHE_DIR")

APPROVED = "pitfall.lsc_missing"            # approved on the page in the scenario (chains on no other rule)
APPROVED_CASE = "knowledge/cases/lsc-missing.yaml"
SELF = "pitfall.technique_unverified"       # under review; its author tries to approve it
CHANGED = "evidence.notable_weight_change"  # approved, then its parameter changed: the diff page


def have_chromium() -> bool:
    """Whether the system's Chromium is installed."""
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def bmdkb() -> list[str]:
    """The command line of this environment's `bmdkb`."""
    script = Path(sys.executable).with_name("bmdkb")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bmdkb.cli.main"]


def env(cache: Path | None = None) -> dict:
    """The environment for a bmdkb subprocess: none of the BMDKB_* variables a caller may have set."""
    out = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    if cache is not None:
        out["BMDKB_CACHE_DIR"] = str(cache)
    return out


def run(*args, root: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run `bmdkb ARGS --kb ROOT`."""
    done = subprocess.run([*bmdkb(), *args, "--kb", str(root)], capture_output=True, text=True, env=env(),
                          timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"bmdkb {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def _git(root: Path, *args) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=board test", "-c", "user.email=board@test.invalid",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, timeout=60)


def key_file(root: Path, member: str) -> Path:
    """The private key of ``member`` for the knowledge base at ``root``: next to it, never inside."""
    return root.parent / "keys" / f"{member}.key"


def _enrol(root: Path) -> None:
    """Give every member a signing key (public key in board.yaml) and make the content team a
    reviewer too, then have the editor adopt that roster, as `bmdkb review adopt-roster` does."""
    from bmdkb.engine.review import signing

    board = root / "knowledge" / "board.yaml"
    text = board.read_text(encoding="utf-8")
    text = text.replace("    name: bmdkb clinical content team\n    roles: [author]",
                        "    name: bmdkb clinical content team\n    roles: [author, reviewer]")
    (root.parent / "keys").mkdir(exist_ok=True)
    for member in ("content-team", "lena-ortiz", "sam-okafor", "priya-nair"):
        key = signing.generate()
        signing.write_private_key(key, key_file(root, member), root)
        block = text.index(f"  - id: {member}\n")
        end = text.index("public_key:", block)
        line_end = text.index("\n", end)
        text = text[:end] + f"public_key: {signing.public_text(key.public_key())}" + text[line_end:]
    board.write_text(text, encoding="utf-8")
    run("review", "adopt-roster", "--key", str(key_file(root, "priya-nair")), root=root)


def make_kb(base: Path) -> Path:
    """A copy of the shipped knowledge base with a git history and signing keys for every member
    (kept next to it in keys/): the content team is also a reviewer (so an approval of its own rule
    is refused as self-approval, not for want of a role), SELF is under review, CHANGED was
    approved and its parameter then changed."""
    root = base / "board-kb"
    root.mkdir(parents=True)
    for folder in ("knowledge", "provenance"):
        shutil.copytree(REPO / folder, root / folder)
    _git(root, "init", "-q")
    _enrol(root)
    run("review", "start", SELF, "--key", str(key_file(root, "lena-ortiz")), root=root)
    run("review", "start", CHANGED, "--key", str(key_file(root, "sam-okafor")), root=root)
    run("review", "approve", CHANGED, "--coi", "none", "--key", str(key_file(root, "sam-okafor")), root=root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "approved content")
    params = root / "knowledge" / "facts" / "parameters.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace("  value: 5\n", "  value: 4\n", 1), encoding="utf-8")
    _git(root, "commit", "-q", "-a", "-m", "lower the weight-change threshold")
    return root


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `bmdkb board` process on 127.0.0.1, its sign-in links read from the file it writes."""

    def __init__(self, root: Path, work: Path, *extra: str, keys: bool = True):
        if keys:
            extra = (*extra, *[a for m in ("content-team", "lena-ortiz", "sam-okafor", "priya-nair")
                               if key_file(root, m).exists() for a in ("--key", str(key_file(root, m)))])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.links_file = work / f"links-{self.port}.txt"
        self.log = open(work / f"server-{self.port}.log", "w+", encoding="utf-8")
        self.process = subprocess.Popen([*bmdkb(), "board", "--kb", str(root), "--port", str(self.port),
                                         "--signin-links", str(self.links_file), *extra],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env(work / "cache"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bmdkb board exited {self.process.returncode}: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise AssertionError(f"bmdkb board did not listen within 60 s: {self.output()}")
        self.links = {}
        for line in self.links_file.read_text(encoding="utf-8").splitlines():
            member = line.split("(", 1)[1].split(")", 1)[0]
            self.links[member] = line.split(": ", 1)[1]

    def output(self) -> str:
        """What the server printed so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        """End the server process (this one only) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.log.close()


def axe_script() -> Path:
    """axe.min.js of axe-core AXE_VERSION, from the npm registry (`npm pack`) into a cache folder."""
    target = AXE_CACHE / "package" / "axe.min.js"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch axe-core for the accessibility check (apt-get install npm); "
                           f"or put axe-core {AXE_VERSION}'s package/ folder in {AXE_CACHE}")
    AXE_CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(AXE_CACHE)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"npm pack axe-core@{AXE_VERSION} failed: {done.stderr.strip()[-500:]}")
    with tarfile.open(AXE_CACHE / f"axe-core-{AXE_VERSION}.tgz") as tar:
        tar.extractall(AXE_CACHE, filter="data")
    return target


def browser(playwright, profile: Path, **options):
    """A fresh Chromium profile (persistent context in ``profile``) of the system's Chromium."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport=options.pop("viewport", {"width": 1280, "height": 900}), **options)


def sign_in(page, server: Server, member: str) -> None:
    """Open the member's one-time sign-in link and sign in."""
    page.goto(server.links[member])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")


def screenshots(out: Path) -> None:
    """The README's screenshots: the queue, a rule page and a diff page, at laptop width."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bmdkb-shots-") as tmp:
        work = Path(tmp)
        root = make_kb(work)
        server = Server(root, work)
        try:
            with sync_playwright() as p:
                context = browser(p, work / "profile", viewport={"width": 1200, "height": 1000})
                page = context.new_page()
                sign_in(page, server, "lena-ortiz")
                page.screenshot(path=str(out / "board-queue.png"))
                page.goto(f"{server.url}/rules/{CHANGED}")
                page.screenshot(path=str(out / "board-rule.png"), full_page=True,
                                clip={"x": 0, "y": 0, "width": 1200, "height": 2000})
                page.goto(f"{server.url}/rules/{CHANGED}/changes")
                page.screenshot(path=str(out / "board-changes.png"))
                context.close()
        finally:
            server.stop()


if __name__ == "__main__":
    screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs"))
