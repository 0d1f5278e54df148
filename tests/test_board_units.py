"""The board's parts that need no browser: its configuration refusals, sessions and one-time
codes, the origin and CSRF checks, the trusted sign-on header (a real server process behind a
stand-in proxy), a quote found in its source, a rule's conditions in words, and what the diff
page says when there is nothing to compare."""
from __future__ import annotations

import urllib.error
import urllib.request
import shutil
from collections import namedtuple

import pytest
from starlette.datastructures import Headers

import board_harness as h
from bmdkb.cli.main import cli
from bmdkb.engine.board import baseline, conditions, guard, passages, pages
from bmdkb.engine.board.config import BoardConfig, BoardConfigError
from bmdkb.engine.board.sessions import LOCAL, PROXY, SessionStore
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.review import governance
from bmdkb.engine.review.roster import Roster

Client = namedtuple("Client", "host port")
SECRET = "s3cret-shared-with-the-proxy-only"


class FakeRequest:
    def __init__(self, headers=None, cookies=None, peer="127.0.0.1"):
        self.headers = Headers(headers or {})
        self.cookies = cookies or {}
        self.client = Client(peer, 50000)


# ---------------------------------------------------------------- configuration

def test_a_board_beyond_this_machine_needs_the_proxy(tmp_path):
    with pytest.raises(BoardConfigError, match="listens on this machine only"):
        BoardConfig(tmp_path, host="0.0.0.0")
    with pytest.raises(BoardConfigError, match="honoured only from the organisation's proxy"):
        BoardConfig(tmp_path, host="0.0.0.0", trusted_header="X-Remote-User")
    with pytest.raises(BoardConfigError, match="not an http"):
        BoardConfig(tmp_path, public_url="ftp://board")
    config = BoardConfig(tmp_path, host="0.0.0.0", trusted_header="X-Remote-User", proxy_secret=SECRET,
                         public_url="https://board.example.org/")
    assert config.origin == "https://board.example.org" and config.origins == {"https://board.example.org"}
    assert config.secure and config.cookie_name.startswith("__Host-")
    local = BoardConfig(tmp_path, port=9000)
    assert "http://localhost:9000" in local.origins and not local.secure


def test_the_command_refuses_an_unsafe_configuration(runner, mini_kb_root, tmp_path):
    short = tmp_path / "short-secret"
    short.write_text("too short", encoding="utf-8")
    for args, message in ((["--host", "0.0.0.0"], "listens on this machine only"),
                          (["--trusted-header", "X-Remote-User"], "honoured only from the organisation's proxy"),
                          (["--trusted-header", "X-Remote-User", "--proxy-secret-file", str(short)], "16 characters"),
                          (["--member", "nobody"], "is not a member of the editorial board")):
        result = runner.invoke(cli, ["board", "--kb", str(mini_kb_root), *args])
        assert result.exit_code == 2 and message in result.stderr, result.output


# ---------------------------------------------------------------- sessions and codes

def test_a_sign_in_code_works_once_and_sessions_expire():
    store = SessionStore(hours=1)
    code = store.issue_code("lena-ortiz")
    assert store.redeem("wrong") is None
    assert store.redeem(code) == "lena-ortiz" and store.redeem(code) is None
    sid, session = store.open("lena-ortiz", LOCAL)
    assert store.get(sid) is session and store.get("other") is None and store.get(None) is None
    assert session.csrf_matches(session.csrf) and not session.csrf_matches("x") and not session.csrf_matches(None)
    session.created -= 3601
    assert store.get(sid) is None
    sid, _ = store.open("lena-ortiz", LOCAL)
    store.close(sid)
    assert store.get(sid) is None


# ---------------------------------------------------------------- origin, CSRF, sign-on header

def test_only_a_same_origin_post_with_the_sessions_token_acts(tmp_path):
    config = BoardConfig(tmp_path, port=9000)
    store = SessionStore()
    sid, session = store.open("sam-okafor", LOCAL)
    caller = guard.Caller(session)
    own = {"origin": "http://127.0.0.1:9000"}
    assert guard.form_refusal(FakeRequest(own), config, caller, session.csrf) is None
    assert guard.form_refusal(FakeRequest({"referer": "http://localhost:9000/rules/x"}), config, caller,
                              session.csrf) is None
    refusals = [
        (own, None, "security token"), (own, "wrong", "security token"),
        ({"origin": "http://127.0.0.1:9001"}, session.csrf, "another origin"),
        ({"referer": "https://evil.example/x"}, session.csrf, "another origin"),
        ({}, session.csrf, "neither an Origin nor a Referer"),
        ({**own, "sec-fetch-site": "same-site"}, session.csrf, "another site"),
    ]
    for headers, token, reason in refusals:
        assert reason in guard.form_refusal(FakeRequest(headers), config, caller, token)
    assert "not signed in" in guard.form_refusal(FakeRequest(own), config, guard.Caller(None), session.csrf)


def test_the_sign_on_header_counts_only_from_the_proxy(tmp_path, kb):
    roster = Roster(kb.board)
    config = BoardConfig(tmp_path, trusted_header="X-Remote-User", proxy_secret=SECRET,
                         trusted_proxies=frozenset({"10.0.0.5"}))
    store = SessionStore()
    named = {"x-remote-user": "Dr Lena Ortiz"}
    assert guard.identify(FakeRequest(named), config, store, roster).session is None          # no proof
    assert guard.identify(FakeRequest({**named, "x-bmdkb-proxy-secret": "guess"}), config, store,
                          roster).session is None
    caller = guard.identify(FakeRequest({**named, "x-bmdkb-proxy-secret": SECRET}), config, store, roster)
    assert caller.session.member_id == "lena-ortiz" and caller.session.via == PROXY and caller.set_cookie
    again = guard.identify(FakeRequest({**named, "x-bmdkb-proxy-secret": SECRET},
                                       {config.cookie_name: caller.set_cookie}), config, store, roster)
    assert again.session is caller.session and again.set_cookie is None
    by_address = guard.identify(FakeRequest({"x-remote-user": "priya-nair"}, peer="10.0.0.5"), config, store, roster)
    assert by_address.session.member_id == "priya-nair"
    dropped = guard.identify(FakeRequest({}, {config.cookie_name: caller.set_cookie}), config, store, roster)
    assert dropped.session is None and dropped.clear_cookie   # the proxy vouches on every request
    with pytest.raises(guard.NotAMember):
        guard.identify(FakeRequest({"x-remote-user": "Mallory", "x-bmdkb-proxy-secret": SECRET}), config, store,
                       roster)
    unconfigured = BoardConfig(tmp_path)
    assert guard.proxy_name(FakeRequest({**named, "x-bmdkb-proxy-secret": SECRET}), unconfigured) is None


def test_a_proxied_board_signs_members_in_from_the_header(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET, encoding="utf-8")
    server = h.Server(h.REPO, tmp_path, "--trusted-header", "X-Remote-User", "--proxy-secret-file", str(secret))
    try:
        assert server.links == {}           # no sign-in links unless --member asks for them
        proxied = {"X-Remote-User": "Dr Lena Ortiz", "X-Bmdkb-Proxy-Secret": SECRET}

        def get(headers):
            request = urllib.request.Request(server.url + "/", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, response.geturl(), response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.geturl(), exc.read().decode()

        status, url, body = get(proxied)
        assert status == 200 and "Signed in as <strong>Dr Lena Ortiz</strong>" in body and "organisation sign-on" in body
        status, url, body = get({"X-Remote-User": "Dr Lena Ortiz"})
        assert url.endswith("/signin") and "Signed in as" not in body
        status, url, body = get({**proxied, "X-Remote-User": "Mallory"})
        assert status == 403 and "not a member of the editorial board" in body
    finally:
        server.stop()


# ---------------------------------------------------------------- words and passages

def test_a_quote_is_shown_in_its_paragraph():
    text = "Heading\n\nFirst paragraph.\n\nSecond: the quoted words here, and more.\n\nThird."
    found = passages.passage(text, "the quoted words", "Heading")
    assert (found.before, found.quote, found.after, found.found) == ("Second: ", "the quoted words",
                                                                     " here, and more.", True)
    assert not passages.passage(text, "absent words").found
    long = "x" * 1000 + " needle " + "y" * 1000
    cut = passages.passage(long, "needle")
    assert cut.before.startswith("… ") and cut.after.endswith(" …") and len(cut.before) < 500


def test_conditions_read_in_words_and_mark_local_policy(kb):
    described = conditions.describe(kb, kb.rules["evidence.notable_weight_change"])
    texts = [r.text for c in described for r in c.requirements]
    assert any("notable_weight_change_pct" in t for t in texts)
    assert any(r.local_policy for c in described for r in c.requirements)
    chained = conditions.describe(kb, kb.rules["pitfall.clinical_context_missing"])
    assert chained[0].heading.startswith("the conclusion ")
    assert any(r.groups for c in chained for r in c.requirements)     # an any-of group
    assert conditions.outcome(kb.rules["pitfall.lsc_missing"]) == "concludes pitfall.lsc_missing (considered)"
    assert conditions.outcome(kb.rules["measurement.significant_decrease"]).startswith("derives a site trend")


def test_the_diff_page_says_why_there_is_nothing_to_compare(kb, tmp_path):
    rule = kb.rules["pitfall.lsc_missing"]
    assert "never approved" in baseline.since_approved(kb, rule.id, None).reason
    same = {"digest": rule.digest, "version": 1, "time": "2026-01-01T00:00:00Z", "seq": 1, "by": ["x"]}
    assert "unchanged" in baseline.since_approved(kb, rule.id, same).reason
    other = {**same, "digest": "sha256:" + "0" * 64}
    copy = tmp_path / "kb"
    for folder in ("knowledge", "provenance"):
        shutil.copytree(h.REPO / folder, copy / folder)
    not_git = knowledge_base.load(copy)
    assert "not the root of a git repository" in baseline.since_approved(not_git, rule.id, other).reason
    data = pages.changes(not_git, rule.id)
    assert data["baseline"].reason and data["behaviour"] == []


def test_last_approved_follows_the_ledger(mini_kb_root):
    import datetime as dt

    now = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
    rule_id = "pattern.spine_up_hip_down"

    import keyring
    keyring.ensure(mini_kb_root)

    def act(action, by, **kw):
        return governance.decide(knowledge_base.load(mini_kb_root), action, rule_id, by, now=now,
                                 key=keyring.key(mini_kb_root, by), **kw)

    kb = knowledge_base.load(mini_kb_root)
    assert governance.last_approved(kb, rule_id) is None
    act("submit", "Test Author")
    act("start", "Dr Bo Reviewer")
    assert governance.last_approved(kb, rule_id) is None          # under review is not approved
    entry = act("approve", "Dr Cy Approver", coi="none").entry
    act("request-changes", "Dr Bo Reviewer", note="Say why.")     # sent back after approval
    found = governance.last_approved(kb, rule_id)
    assert (found["digest"], found["seq"], found["by"]) == (kb.rules[rule_id].digest, entry["seq"], ["Dr Cy Approver"])
    with pytest.raises(governance.ReviewError, match="the rule changed since it was read"):
        act("start", "Dr Bo Reviewer", read_digest="sha256:" + "0" * 64)
