"""The board's web page end to end: a real `bmdkb board` process on 127.0.0.1 and the system's
Chromium driven by Playwright (tests/board_harness.py sets both up).

A member signs in, opens the queue, reads a rule and its highlighted passage, starts review and
approves with a declaration, and sees the status change; `bmdkb evaluate` in another process then
shows that conclusion without the caution. A self-approval, a missing declaration and forged form
posts (no or a wrong CSRF token, a foreign Origin, a real cross-origin form in the browser) are
refused and leave the ledger byte-identical. axe-core checks every page: no serious violation.
Skipped only when Chromium is not installed (`.ci/run` installs it).
"""
from __future__ import annotations

import http.server
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import board_harness as h

if not h.have_chromium() and os.environ.get("CI"):
    pytest.fail(f"Chromium is not installed at {h.CHROMIUM}, and CI must run the board's browser tests "
                "(.ci/run installs it with apt-get)", pytrace=False)
if not h.have_chromium():
    pytest.skip(f"Chromium is not installed at {h.CHROMIUM} (apt-get install chromium; .ci/run installs it)",
                allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402  (after the skip: only needed with Chromium)

LEDGER = "provenance/review-ledger.jsonl"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("board")


@pytest.fixture(scope="module")
def root(work) -> Path:
    return h.make_kb(work)


@pytest.fixture(scope="module")
def server(root, work):
    server = h.Server(root, work)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture
def context(playwright, tmp_path):
    context = h.browser(playwright, tmp_path / "profile")
    yield context
    context.close()


_SIGNED_IN: dict = {}   # member -> session cookies: each sign-in code works once, so a member signs in once


def signed_in(context, server, member: str):
    """A page of ``context`` with ``member`` signed in (through their link the first time)."""
    page = context.new_page()
    if member in _SIGNED_IN:
        context.add_cookies(_SIGNED_IN[member])
        page.goto(server.url + "/")
    else:
        h.sign_in(page, server, member)
        _SIGNED_IN[member] = context.cookies()
    return page


def ledger_bytes(root: Path) -> bytes:
    return (root / LEDGER).read_bytes()


def conclusion(root: Path, code: str) -> dict:
    done = h.run("evaluate", h.APPROVED_CASE, "--format", "json", root=root)
    return next(c for c in json.loads(done.stdout)["conclusions"] if c["code"] == code)


# ---------------------------------------------------------------- the scenario

def test_a_member_approves_on_the_page_and_evaluate_drops_the_caution(server, root, context):
    assert "caution" in conclusion(root, h.APPROVED)      # pending before the board decides
    page = signed_in(context, server, "lena-ortiz")
    expect(page.get_by_role("heading", name="Ledger verified")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("Dr Lena Ortiz")

    page.get_by_role("link", name=h.APPROVED, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("No facility LSC for a compared site")
    mark = page.locator("blockquote.passage mark").first
    expect(mark).to_have_text("Ignoring the least significant change (LSC): Ensure changes exceed the LSC for your "
                              "facility")
    expect(page.locator("blockquote.passage").first).to_contain_text("3. Overlooking technical factors")  # the paragraph around it
    expect(page.locator("#status-label")).to_have_text("submitted")

    page.get_by_role("button", name="Start review").click()
    expect(page.locator("#outcome")).to_contain_text("review started by Dr Lena Ortiz")
    expect(page.locator("#status-label")).to_have_text("under_review")

    page.get_by_label("Conflict-of-interest declaration (required)").fill("none")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#outcome")).to_contain_text("approved by Dr Lena Ortiz")
    expect(page.locator("#outcome")).to_contain_text("declared conflict of interest: none")
    expect(page.locator("#status-label")).to_have_text("approved")

    last = json.loads(ledger_bytes(root).splitlines()[-1])
    assert (last["action"], last["rule"], last["by"], last["coi"]) == ("approve", h.APPROVED, "Dr Lena Ortiz", "none")
    assert last["signer"] == "lena-ortiz" and last["signature"].startswith("ed25519:")   # signed with her key
    verify = h.run("review", "verify", root=root)
    assert "intact" in verify.stdout
    assert "caution" not in conclusion(root, h.APPROVED)   # another process sees the approval
    page.goto(server.url + "/")
    expect(page.locator(f"#approved a[href='/rules/{h.APPROVED}']")).to_be_visible()


def test_a_self_approval_is_refused_with_the_command_lines_message(server, root, context):
    page = signed_in(context, server, "content-team")
    page.goto(f"{server.url}/rules/{h.SELF}")
    before = ledger_bytes(root)
    page.get_by_label("Conflict-of-interest declaration (required)").fill("none")
    page.get_by_role("button", name="Approve").click()
    refusal = page.locator("#refusal")
    expect(refusal).to_contain_text("authors cannot approve their own rules")
    assert ledger_bytes(root) == before
    cli = h.run("review", "approve", h.SELF, "--coi", "none", "--key", str(h.key_file(root, "content-team")),
                root=root, check=False)
    assert cli.returncode == 2 and ledger_bytes(root) == before
    cli_message = cli.stderr.strip().splitlines()[-1].removeprefix("Error: ")
    assert f"Refused: {cli_message}" in refusal.inner_text()


# ---------------------------------------------------------------- forged and incomplete posts

def _session(context, server, member: str) -> tuple[str, str]:
    """(cookie header, CSRF token) of a member signed in in ``context``."""
    page = signed_in(context, server, member)
    page.goto(f"{server.url}/rules/{h.SELF}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
    return cookie, token


def _post(url: str, fields: dict, headers: dict) -> tuple[int, str]:
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_forged_posts_are_refused_and_write_nothing(server, root, context):
    cookie, token = _session(context, server, "sam-okafor")
    url = f"{server.url}/rules/{h.SELF}/decide"
    form = {"action": "approve", "coi": "none"}
    own = {"Cookie": cookie, "Origin": server.url}
    before = ledger_bytes(root)
    cases = [
        ({**form}, own, "security token is missing"),
        ({**form, "csrf_token": "x" * 43}, own, "does not match your session"),
        ({**form, "csrf_token": token}, {"Cookie": cookie, "Origin": "http://evil.example"}, "another origin"),
        ({**form, "csrf_token": token}, {"Cookie": cookie, "Origin": "null"}, "another origin"),
        ({**form, "csrf_token": token}, {"Cookie": cookie}, "neither an Origin nor a Referer"),
        ({**form, "csrf_token": token}, {"Cookie": cookie, "Referer": "http://evil.example/page"}, "another origin"),
        ({**form, "csrf_token": token}, {**own, "Sec-Fetch-Site": "cross-site"}, "another site"),
        ({**form, "csrf_token": token}, {"Origin": server.url}, "not signed in"),
    ]
    for fields, headers, reason in cases:
        status, body = _post(url, fields, headers)
        assert status == 403 and reason in body and "Nothing was recorded" in body, (headers, status, body[:300])
        assert ledger_bytes(root) == before


def test_a_cross_origin_form_in_the_browser_is_refused(server, root, context):
    """A page on another origin (another port of this machine: the same site, so even a SameSite
    cookie goes with it) posts a decision form when the signed-in member clicks its button."""
    cookie, token = _session(context, server, "sam-okafor")
    attack = (f"<!DOCTYPE html><html lang=en><title>win a prize</title><form method=post "
              f"action='{server.url}/rules/{h.SELF}/decide'><input type=hidden name=action value=approve>"
              f"<input type=hidden name=coi value=none><input type=hidden name=csrf_token value='{token}'>"
              "<button>Claim</button></form></html>").encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args):
            pass

    evil = http.server.HTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        before = ledger_bytes(root)
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        page.get_by_role("button", name="Claim").click()
        expect(page.get_by_role("alert")).to_contain_text("posted from another")
        assert ledger_bytes(root) == before
    finally:
        evil.shutdown()
        evil.server_close()


def test_a_missing_declaration_is_refused_with_the_command_lines_message(server, root, context):
    cookie, token = _session(context, server, "sam-okafor")
    before = ledger_bytes(root)
    page = context.new_page()
    page.goto(f"{server.url}/rules/{h.SELF}")
    digest = page.locator("form:has(input[value=approve]) input[name=digest]").get_attribute("value")
    status, body = _post(f"{server.url}/rules/{h.SELF}/decide",
                         {"action": "approve", "coi": "  ", "csrf_token": token, "digest": digest},
                         {"Cookie": cookie, "Origin": server.url})
    assert status == 422 and ledger_bytes(root) == before
    cli = h.run("review", "approve", h.SELF, "--key", str(h.key_file(root, "sam-okafor")), root=root, check=False)
    assert cli.returncode == 2 and ledger_bytes(root) == before
    message = cli.stderr.strip().splitlines()[-1].removeprefix("Error: ")
    assert "conflict-of-interest declaration" in message
    assert message.replace('"', "&#34;") in body
    status, body = _post(f"{server.url}/rules/{h.SELF}/decide",
                         {"action": "approve", "coi": "none", "csrf_token": token, "digest": "sha256:" + "0" * 64},
                         {"Cookie": cookie, "Origin": server.url})
    assert status == 422 and "the rule changed since it was read" in body and ledger_bytes(root) == before


def test_the_diff_page_shows_what_changed_since_approval(server, context):
    page = signed_in(context, server, "priya-nair")
    page.goto(f"{server.url}/rules/{h.CHANGED}")
    expect(page.locator("#status-label")).to_have_text("approved (changed since approval)")
    page.get_by_role("link", name="What changed since the version last approved").click()
    table = page.locator("table.diff").first
    expect(table).to_contain_text("value")
    expect(table.locator("del")).to_have_text("5")
    expect(table.locator("ins")).to_have_text("4")
    expect(page.get_by_role("heading", name="Behaviour over the test cases")).to_be_visible()
    expect(page.locator("main")).to_contain_text("rule-test cases evaluated under both versions")


def test_a_broken_ledger_is_impossible_to_miss(server, root, context):
    page = signed_in(context, server, "priya-nair")
    path = root / LEDGER
    good = path.read_bytes()
    try:
        path.write_bytes(good.replace(b'"by":"Dr Sam Okafor"', b'"by":"Dr Sam 0kafor"', 1))
        page.goto(server.url + "/")
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("FAILS VERIFICATION")
        expect(alert).to_contain_text("No rule counts as approved")
    finally:
        path.write_bytes(good)


def test_signing_in_needs_a_valid_one_time_code(server, context, playwright, tmp_path):
    other = h.browser(playwright, tmp_path / "other-profile")
    try:
        signed_in(other, server, "lena-ortiz")          # her link has been used (now, or by a test before)
    finally:
        other.close()
    page = context.new_page()
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/signin")
    page.get_by_label("Sign-in code").fill("not-a-code")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.goto(server.links["lena-ortiz"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")


# ---------------------------------------------------------------- accessibility

def _axe(page, script: Path) -> list:
    page.add_script_tag(path=str(script))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 768, "height": 1024}],
                         ids=["laptop", "tablet"])
def test_every_page_has_no_serious_accessibility_violation(server, playwright, tmp_path, viewport):
    script = h.axe_script()
    context = h.browser(playwright, tmp_path / "profile", viewport=viewport, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(server.url + "/signin")
        found = {"sign-in": _axe(page, script)}
        page.get_by_label("Sign-in code").fill("not-a-code")
        page.get_by_role("button", name="Sign in").click()
        found["sign-in refused"] = _axe(page, script)
        page = signed_in(context, server, "sam-okafor")
        found["queue"] = _axe(page, script)
        for rule_id in (h.APPROVED, h.SELF, h.CHANGED, "pitfall.clinical_context_missing",
                        "assessment.inadequate_treatment_response", "evidence.low_vitamin_d"):
            page.goto(f"{server.url}/rules/{rule_id}")
            found[f"rule {rule_id}"] = _axe(page, script)
        page.get_by_label("What should change (required)").fill("x")
        page.locator("form:has(input[value=request-changes]) input[name=csrf_token]").evaluate("e => e.value = 'x'")
        page.get_by_role("button", name="Send back to the author").click()
        found["refused post"] = _axe(page, script)
        page.goto(f"{server.url}/rules/{h.CHANGED}/changes")
        found["changes"] = _axe(page, script)
        page.goto(f"{server.url}/rules/{h.APPROVED}/changes")
        found["changes (none)"] = _axe(page, script)
        page.goto(f"{server.url}/rules/no.such.rule")
        found["not found"] = _axe(page, script)
    finally:
        context.close()
    serious = {name: [(v["id"], v["help"], len(v["nodes"])) for v in vs] for name, vs in found.items() if vs}
    assert serious == {}


def test_a_member_whose_key_the_board_does_not_hold_cannot_decide(root, work):
    """A board started without the member's key shows the rules but refuses the decision, with the
    message the command line gives without --key."""
    server = h.Server(root, work, keys=False)
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(server.links["sam-okafor"]).query)["code"][0]
        signin = urllib.request.Request(server.url + "/signin", data=urllib.parse.urlencode({"code": code}).encode(),
                                        headers={"Origin": server.url})
        assert "Signed in as" in opener.open(signin, timeout=30).read().decode()
        page = opener.open(f"{server.url}/rules/{h.SELF}", timeout=30).read().decode()
        assert "This board holds no signing key of yours" in page
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        before = ledger_bytes(root)
        post = urllib.request.Request(f"{server.url}/rules/{h.SELF}/decide", headers={"Origin": server.url},
                                      data=urllib.parse.urlencode({"action": "approve", "coi": "none",
                                                                   "csrf_token": token}).encode())
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(post, timeout=30)
        body = refused.value.read().decode()
        assert refused.value.code == 422 and "a decision is signed by the member who makes it" in body
        assert ledger_bytes(root) == before
    finally:
        server.stop()
