"""Issue 12, signatures: each attack on the review ledger named in the issue, and the happy path.

Every attack test passed (or was not detected) before signed decisions: each now ends with
`bmdkb review verify` exiting 3 and naming the entry, or with the write refused (exit 2) and the
ledger byte-identical. Keys are generated per test, outside the knowledge base (tests/keyring.py).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from bmdkb.cli.main import cli
from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.review import governance, ledger, rosterlog, signing, verdicts

import keyring
from conftest import REPO

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
RULE = "pattern.spine_up_hip_down"
AUTHOR, BO, CY, DI = "Test Author", "Dr Bo Reviewer", "Dr Cy Approver", "Dr Di Second"


def act(root, action, by, rule=RULE, **kw):
    keyring.ensure(root)
    return governance.decide(knowledge_base.load(root), action, rule, by, now=kw.pop("now", NOW),
                             key=keyring.key(root, by), **kw)


def approved_scenario(root):
    """submit, start, approve (quorum 1), then another rule submitted: 4 signed entries."""
    act(root, "submit", AUTHOR)
    act(root, "start", BO)
    act(root, "approve", CY, coi="none")
    act(root, "submit", AUTHOR, rule="check.fall_risk.considered")


def ledger_path(root) -> Path:
    return root / ledger.LEDGER_FILE


def entries(root) -> list[dict]:
    return [json.loads(line) for line in ledger_path(root).read_bytes().splitlines()]


def rewrite(root, rows: list[dict], resign: dict | None = None) -> None:
    """Write ``rows`` as the ledger with seq, prev_hash and hash recomputed (what an attacker with
    write access does); entries whose signer is in ``resign`` (member id -> Signer) are signed again."""
    prev = None
    out = b""
    for seq, row in enumerate(rows, start=1):
        row = {**row, "seq": seq, "prev_hash": prev}
        row.pop("hash", None)
        if resign and row.get("signer") in resign:
            row.pop("signature", None)
            row["signature"] = resign[row["signer"]].sign(signing.payload(ledger.KIND, row))
        row["hash"] = ledger.entry_hash(row)
        prev = row["hash"]
        out += ledger.serialize(row)
    ledger_path(root).write_bytes(out)


def verify(runner, root, *extra):
    return runner.invoke(cli, ["review", "verify", "--kb", str(root), *extra])


def fails(result, *fragments) -> str:
    assert result.exit_code == 3, result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def status(root):
    return governance.statuses(knowledge_base.load(root), NOW)[RULE]


# ---------------------------------------------------------------- rewriting what is there

def test_a_rewritten_entry_with_a_recomputed_chain_fails_verify(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    rows = entries(mini_kb_root)
    rows[2]["coi"] = "none, really"   # the approval's declaration, changed
    rewrite(mini_kb_root, rows)
    fails(verify(runner, mini_kb_root), "entry 3 (line 3): the signature does not verify with cy's key",
          "(entries 1 to 2 are intact)")
    assert status(mini_kb_root).status == governance.UNVERIFIED


def test_an_inserted_entry_fails_verify_and_names_it(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    rows = entries(mini_kb_root)
    forged = {**rows[2], "by": DI, "signer": "di"}   # a second approval, copied and relabelled
    rewrite(mini_kb_root, rows[:3] + [forged] + rows[3:])
    fails(verify(runner, mini_kb_root), "entry 4 (line 4): the signature does not verify with di's key")


def test_an_inserted_entry_signed_by_its_member_still_breaks_the_next_signature(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    rows = entries(mini_kb_root)
    forged = {k: v for k, v in rows[2].items() if k != "signature"}
    forged.update(by=DI, signer="di")
    rewrite(mini_kb_root, rows[:3] + [forged], resign={"di": keyring.key(mini_kb_root, DI)})
    mended = entries(mini_kb_root)
    rewrite(mini_kb_root, mended + [rows[3]])   # entry 4 moved to seq 5 with a new prev_hash
    fails(verify(runner, mini_kb_root), "entry 5 (line 5): the signature does not verify with test-author's key")


def test_an_edited_last_entry_fails_verify(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    rows = entries(mini_kb_root)
    rows[-1]["note"] = "Submitted by someone else"
    rewrite(mini_kb_root, rows)
    fails(verify(runner, mini_kb_root), "entry 4 (line 4): the signature does not verify")


def test_an_entry_moved_to_another_member_fails_verify(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    rows = entries(mini_kb_root)
    rows[2]["by"] = DI          # the approval claimed for Di, Cy's signature kept
    rewrite(mini_kb_root, rows)
    fails(verify(runner, mini_kb_root), "entry 3 (line 3)")


# ---------------------------------------------------------------- appending forged approvals

def _forged_approval(root, **changes) -> dict:
    rows = entries(root)
    last = rows[-1]
    rule = knowledge_base.load(root).rules["check.fall_risk.considered"]
    kb = knowledge_base.load(root)
    entry = {"seq": last["seq"] + 1, "time": last["time"], "action": "approve", "rule": rule.id,
             "rule_version": rule.version, "rule_digest": rule.digest, "by": DI, "note": None, "coi": "none",
             "review_by": "2027-03-01", "dependencies": governance.dependencies(kb, rule), "signer": "di",
             "roster": rosterlog.read(root / rosterlog.ROSTER_LOG).current["roster"], "prev_hash": last["hash"]}
    entry.update(changes)
    return entry


def _append(root, entry: dict, signer: signing.Signer | None) -> None:
    entry = {k: v for k, v in entry.items() if v is not None or k in ("note", "prev_hash")}
    if signer is not None:
        entry["signature"] = signer.sign(signing.payload(ledger.KIND, entry))
    entry["hash"] = ledger.entry_hash(entry)
    with open(ledger_path(root), "ab") as handle:
        handle.write(ledger.serialize(entry))


def _started(root):
    approved_scenario(root)
    act(root, "start", BO, rule="check.fall_risk.considered")


def test_an_appended_approval_signed_with_a_key_not_on_the_roster_fails_verify(runner, mini_kb_root):
    _started(mini_kb_root)
    head = ledger.read(ledger_path(mini_kb_root)).head
    stranger = signing.Signer(signing.generate(), "", "stranger")
    _append(mini_kb_root, _forged_approval(mini_kb_root), stranger)
    fails(verify(runner, mini_kb_root), "entry 6 (line 6): the signature does not verify with di's key")
    fails(verify(runner, mini_kb_root, "--head", head), "entry 6")   # --head alone passed this before
    found = governance.statuses(knowledge_base.load(mini_kb_root), NOW)
    assert not found["check.fall_risk.considered"].approved


def test_an_appended_approval_by_a_non_member_fails_verify(runner, mini_kb_root):
    _started(mini_kb_root)
    eve = signing.Signer(signing.generate(), "", "eve")
    _append(mini_kb_root, _forged_approval(mini_kb_root, by="Dr Eve Outsider", signer="eve"), eve)
    fails(verify(runner, mini_kb_root), "entry 6 (line 6): signer eve is not a member with a public key")


def test_an_appended_unsigned_approval_fails_verify(runner, mini_kb_root):
    _started(mini_kb_root)
    _append(mini_kb_root, _forged_approval(mini_kb_root, signer=None, roster=None), None)
    fails(verify(runner, mini_kb_root), "entry 6 (line 6): unsigned (no signer, roster, signature)",
          "every entry from 1 on must be signed")


def test_an_approval_signed_by_a_member_without_the_role_fails_verify(runner, mini_kb_root):
    _started(mini_kb_root)   # the editor signs an approval the CLI would refuse (editors do not approve)
    _append(mini_kb_root, _forged_approval(mini_kb_root, by="Ed Editor", signer="ed"), keyring.key(mini_kb_root, "ed"))
    fails(verify(runner, mini_kb_root), "entry 6 (line 6): ed has roles editor", "needs reviewer")


def test_an_appended_approval_by_an_invisible_character_author_fails_verify(runner, mini_kb_root):
    _started(mini_kb_root)
    cy = keyring.key(mini_kb_root, CY)
    _append(mini_kb_root, _forged_approval(mini_kb_root, by="Dr Cy\u200b Approver", signer="cy"), cy)
    fails(verify(runner, mini_kb_root), "entry 6 (line 6): by 'Dr Cy\\u200b Approver' is not the signer cy")


def test_two_spellings_signed_by_one_member_are_one_approver(mini_kb_root):
    (mini_kb_root / "knowledge" / "policy.yaml").write_text("kind: policy\nversion: 1\nquorum: 2\n")
    board = mini_kb_root / "knowledge" / "board.yaml"
    board.write_text(board.read_text().replace("name: Dr Cy Approver,", 'name: Dr Cy Approver, aliases: ["Dr. Cy A."],'))
    act(mini_kb_root, "submit", AUTHOR)
    act(mini_kb_root, "start", BO)
    act(mini_kb_root, "approve", CY, coi="none")
    with pytest.raises(governance.ReviewError, match="already approved"):
        act(mini_kb_root, "approve", "Dr. Cy A.", coi="none")
    # Even appended by hand under the other spelling, signed with Cy's key, it counts once.
    last = entries(mini_kb_root)[-1]
    twin = {k: v for k, v in last.items() if k not in ("signature", "hash")}
    twin.update(seq=last["seq"] + 1, by="Dr. Cy A.", prev_hash=last["hash"])
    _append(mini_kb_root, twin, keyring.key(mini_kb_root, CY))
    assert ledger.read(ledger_path(mini_kb_root)).ok
    st = status(mini_kb_root)
    assert (st.status, st.approved) == ("under_review", False)


# ---------------------------------------------------------------- truncation and rewrite against a release

def test_truncation_and_a_re_signed_rewrite_are_caught_against_the_release(runner, shipped_kb_copy):
    root = shipped_kb_copy
    keyring.ensure(root)
    for rule in ("measurement.significant_decrease", "measurement.significant_increase", RULE):
        governance.decide(knowledge_base.load(root), "start", rule, "Dr Lena Ortiz", key=keyring.key(root, "lena-ortiz"))
        governance.decide(knowledge_base.load(root), "approve", rule, "Dr Sam Okafor", coi="none",
                          key=keyring.key(root, "sam-okafor"))
    _release(runner, root, "9.0.0")
    assert verify(runner, root, "--release", "9.0.0").exit_code == 0
    full = ledger_path(root).read_bytes()
    anchored = len(full.splitlines())

    ledger_path(root).write_bytes(b"".join(full.splitlines(keepends=True)[:-2]))   # the last two deleted
    assert verify(runner, root).exit_code == 0            # a shorter chain is still whole...
    fails(verify(runner, root, "--release", "9.0.0"),      # ...but not the one the release anchored
          f"the ledger ends at entry {anchored - 2}, but release 9.0.0 anchored entry {anchored}")

    # Every reviewer's key stolen: entry 59's declaration changed and every later entry signed again.
    ledger_path(root).write_bytes(full)
    rows = entries(root)
    assert rows[58]["action"] == "approve"
    rows[58]["coi"] = "none at all"
    rewrite(root, rows, resign={m: keyring.key(root, m) for m in ("lena-ortiz", "sam-okafor")})
    assert verify(runner, root).exit_code == 0            # signatures hold: only the anchor shows it
    fails(verify(runner, root, "--release", "9.0.0"), f"entry {anchored} (line {anchored}): its hash is",
          f"entries up to {anchored} were rewritten")


def test_the_release_manifest_is_signed_and_an_edit_to_it_is_caught(runner, shipped_kb_copy):
    root = shipped_kb_copy
    keyring.ensure(root)
    _release(runner, root, "9.0.0")
    manifest_file = root / "knowledge" / "release-manifest.yaml"
    manifest = yaml.safe_load(manifest_file.read_text())
    assert manifest["signature"]["signer"] == "priya-nair"
    assert manifest["ledger"]["entries"] == 57 and manifest["ledger"]["signed_from"] == 58
    outside = root.parent / "published-9.0.0.yaml"    # the copy a deployer keeps
    outside.write_text(manifest_file.read_text())
    manifest["ledger"]["entries"] = 50                 # shortening the anchor to hide a truncation
    manifest_file.write_text(yaml.safe_dump(manifest, sort_keys=False))
    fails(verify(runner, root, "--release", "9.0.0"), "knowledge/release-manifest.yaml: the signature does not verify")
    assert verify(runner, root, "--release", "9.0.0", "--manifest", str(outside)).exit_code == 0


def test_a_release_of_a_signed_ledger_needs_an_editors_key(runner, shipped_kb_copy):
    root = shipped_kb_copy
    keyring.ensure(root)
    before = (root / "knowledge" / "release-manifest.yaml").read_bytes()
    result = runner.invoke(cli, ["release", "9.0.0", "--kb", str(root)])
    assert result.exit_code == 2 and "the release manifest must be signed too" in result.stderr
    result = runner.invoke(cli, ["release", "9.0.0", "--kb", str(root), "--key",
                                 str(keyring.key_file(root, "lena-ortiz"))])
    assert result.exit_code == 2 and "signing a release needs editor" in result.stderr
    assert (root / "knowledge" / "release-manifest.yaml").read_bytes() == before


def _release(runner, root, version):
    result = runner.invoke(cli, ["release", version, "--kb", str(root), "--key",
                                 str(keyring.key_file(root, "priya-nair"))])
    assert result.exit_code == 0, result.output
    assert "signed by priya-nair" in result.stdout


# ---------------------------------------------------------------- the roster log

def test_a_forged_roster_entry_is_caught(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    log = mini_kb_root / rosterlog.ROSTER_LOG
    original = log.read_bytes()
    # Eve writes herself into the roster the ledger names, recomputing the digest and hash.
    row = json.loads(original)
    eve = signing.generate()
    row["board"]["members"].append({"id": "eve", "name": "Eve", "roles": ["reviewer"],
                                    "public_key": signing.public_text(eve.public_key())})
    row["roster"] = rosterlog.digest(row["board"])
    row["hash"] = rosterlog.entry_hash(row)
    log.write_bytes(rosterlog.serialize(row))
    fails(verify(runner, mini_kb_root), "provenance/roster-log.jsonl: roster entry 1 (line 1): the signature does "
                                        "not verify")
    # Or appends a roster of her own, signed with her own key.
    log.write_bytes(original)
    current = json.loads(original)
    board = {**current["board"], "members": current["board"]["members"] + [
        {"id": "eve", "name": "Eve", "roles": ["editor", "reviewer"], "public_key": signing.public_text(eve.public_key())}]}
    forged = rosterlog.new_entry(rosterlog.read(log), board, "Eve", "eve", None, current["time"], 5,
                                 signing.Signer(eve, signing.public_text(eve.public_key()), "eve"))
    rosterlog.append(log, forged)
    fails(verify(runner, mini_kb_root), "roster entry 2 (line 2): signer eve is not a member with a public key in "
                                        "the roster before it")


def test_only_an_editor_adopts_a_roster_and_board_yaml_alone_changes_nothing(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    board = mini_kb_root / "knowledge" / "board.yaml"
    board.write_text(board.read_text() + "  - {id: eve, name: Eve, roles: [reviewer]}\n")
    log, ledger_before = mini_kb_root / rosterlog.ROSTER_LOG, ledger_path(mini_kb_root).read_bytes()
    roster_before = log.read_bytes()
    result = runner.invoke(cli, ["review", "adopt-roster", "--kb", str(mini_kb_root), "--key",
                                 str(keyring.key_file(mini_kb_root, BO))])
    assert result.exit_code == 2 and "adopting a roster needs editor" in result.stderr
    result = runner.invoke(cli, ["review", "start", "check.fall_risk.considered", "--by", BO, "--kb",
                                 str(mini_kb_root), "--key", str(keyring.key_file(mini_kb_root, BO))])
    assert result.exit_code == 2 and "differs from the roster in force" in result.stderr
    assert (log.read_bytes(), ledger_path(mini_kb_root).read_bytes()) == (roster_before, ledger_before)
    result = runner.invoke(cli, ["review", "adopt-roster", "--kb", str(mini_kb_root), "--key",
                                 str(keyring.key_file(mini_kb_root, "Ed Editor")), "--note", "Eve joins."])
    assert result.exit_code == 0, result.output
    assert "adopted by Ed Editor (roster entry 2); in force from ledger entry 5" in result.stdout


def test_a_truncation_below_the_latest_roster_is_caught_without_a_release(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    board = mini_kb_root / "knowledge" / "board.yaml"
    board.write_text(board.read_text() + "  - {id: eve, name: Eve, roles: [reviewer]}\n")
    keyring.adopt(mini_kb_root)                       # in force from entry 5
    rows = ledger_path(mini_kb_root).read_bytes().splitlines(keepends=True)
    ledger_path(mini_kb_root).write_bytes(b"".join(rows[:-1]))
    fails(verify(runner, mini_kb_root), "adopted roster entry 2 from ledger entry 5, but the ledger ends at entry 3")


# ---------------------------------------------------------------- keys

def test_a_decision_with_a_missing_or_wrong_key_is_refused_and_the_ledger_untouched(runner, mini_kb_root, tmp_path):
    approved_scenario(mini_kb_root)
    before = ledger_path(mini_kb_root).read_bytes()

    def decide(*extra):
        return runner.invoke(cli, ["review", "start", "check.fall_risk.considered", "--kb", str(mini_kb_root),
                                   *extra])

    cases = [
        ((), "--key: a decision is signed by the member who makes it"),
        (("--key", str(tmp_path / "none.key")), "cannot read the signing key"),
        (("--by", BO, "--key", str(keyring.key_file(mini_kb_root, DI))),
         "Dr Bo Reviewer (bo) is not the member whose key"),
    ]
    stranger = tmp_path / "stranger.key"
    signing.write_private_key(signing.generate(), stranger, mini_kb_root)
    cases.append((("--by", BO, "--key", str(stranger)), "is not the key of any member of the roster in force"))
    loose = tmp_path / "loose.key"
    loose.write_bytes(keyring.key_file(mini_kb_root, BO).read_bytes())
    os.chmod(loose, 0o644)
    cases.append((("--key", str(loose)), "readable by other users (mode 0644)"))
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    os.chmod(garbage, 0o600)
    cases.append((("--key", str(garbage)), "not an unencrypted PEM private key"))
    for extra, message in cases:
        result = decide(*extra)
        assert result.exit_code == 2 and result.stdout == "", (extra, result.output)
        assert message in result.stderr, (extra, result.stderr)
    assert ledger_path(mini_kb_root).read_bytes() == before
    # The key decides who: no --by, and the entry is Bo's.
    result = decide("--key", str(keyring.key_file(mini_kb_root, BO)))
    assert result.exit_code == 0 and "review started by Dr Bo Reviewer" in result.stdout


def test_keygen_writes_the_private_key_outside_the_repository_and_prints_the_roster_entry(runner, mini_kb_root,
                                                                                        tmp_path):
    out = tmp_path / "home" / "bo.key"
    out.parent.mkdir()
    result = runner.invoke(cli, ["review", "keygen", "--member", "bo", "--out", str(out), "--kb", str(mini_kb_root)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    public = signing.load_private_key(out).public
    assert result.stdout.splitlines()[1] == (
        f'  - {{id: "bo", name: "Dr Bo Reviewer", roles: ["reviewer"], public_key: "{public}"}}')
    entry = yaml.safe_load(result.stdout.splitlines()[1].strip()[2:])
    assert entry["public_key"] == public
    for inside in (mini_kb_root / "bo.key", mini_kb_root / "provenance" / "bo.key"):
        result = runner.invoke(cli, ["review", "keygen", "--member", "bo", "--out", str(inside), "--kb",
                                     str(mini_kb_root)])
        assert result.exit_code == 2 and "a private key never enters the repository" in result.stderr
        assert not inside.exists()
    result = runner.invoke(cli, ["review", "keygen", "--member", "bo", "--out", str(out), "--kb", str(mini_kb_root)])
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_keygen_refuses_a_path_inside_the_git_work_tree(runner, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    with pytest.raises(signing.SigningError, match="inside the repository"):
        signing.write_private_key(signing.generate(), repo / "keys" / "x.key", repo / "kb")


def test_no_private_key_is_in_the_repository():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    files = [REPO / name for name in listed.stdout.decode().split("\0") if name] if listed.returncode == 0 else [
        p for p in REPO.rglob("*") if p.is_file() and ".git" not in p.parts and ".venv" not in p.parts]
    assert files
    marker = b"PRIVATE" + b" KEY-----"
    holding = [str(p.relative_to(REPO)) for p in files if p.is_file() and marker in p.read_bytes()]
    assert holding == []


# ---------------------------------------------------------------- migration and the happy path

def test_the_unsigned_history_verifies_and_an_unsigned_entry_after_the_epoch_does_not(runner, shipped_kb_copy):
    root = shipped_kb_copy
    result = verify(runner, root)
    assert result.exit_code == 0 and "57 entries, hash chain intact" in result.stdout
    assert "signatures: none yet" in result.stdout
    keyring.ensure(root)
    result = verify(runner, root)
    assert result.exit_code == 0
    assert "signatures: no signed entries yet" in result.stdout and "entries 1 to 57 are unsigned history" in result.stdout
    rows = entries(root)
    last = rows[-1]
    unsigned = {k: v for k, v in last.items() if k != "hash"}
    unsigned.update(seq=58, prev_hash=last["hash"], rule="pattern.spine_up_hip_down")
    _append(root, unsigned, None)
    fails(verify(runner, root), "entry 58 (line 58): unsigned", "every entry from 58 on must be signed")


def test_an_unsigned_historic_approval_never_counts(mini_kb_root):
    kb = knowledge_base.load(mini_kb_root)
    rule = kb.rules[RULE]
    rows = [{"time": "2026-01-02T09:00:00Z", "action": a, "rule": RULE, "rule_version": 1, "rule_digest": rule.digest,
             "by": by, "note": None, **extra}
            for a, by, extra in (("submit", AUTHOR, {}), ("start", BO, {}),
                                 ("approve", CY, {"coi": "none", "review_by": "2027-01-02"}))]
    rewrite(mini_kb_root, rows)               # the unsigned history, before any roster
    assert ledger.read(ledger_path(mini_kb_root)).ok
    assert not status(mini_kb_root).approved
    keyring.ensure(mini_kb_root)              # the roster adopted: signing starts at entry 4
    assert ledger.read(ledger_path(mini_kb_root)).epoch == 4
    assert (status(mini_kb_root).status, status(mini_kb_root).approved) == ("under_review", False)
    act(mini_kb_root, "approve", DI, coi="none")          # a signed approval counts
    assert status(mini_kb_root).approved


def test_the_happy_path_keygen_roster_signed_decisions_verify_and_an_uncautioned_conclusion(runner, shipped_kb_copy,
                                                                                            tmp_path):
    root, home = shipped_kb_copy, tmp_path / "home"
    home.mkdir()
    board_file = root / "knowledge" / "board.yaml"
    text = board_file.read_text()
    for member in ("content-team", "lena-ortiz", "sam-okafor", "priya-nair"):
        result = runner.invoke(cli, ["review", "keygen", "--member", member, "--out", str(home / f"{member}.key"),
                                     "--kb", str(root)])
        assert result.exit_code == 0, result.output
        public = yaml.safe_load(result.stdout.splitlines()[1].strip()[2:])["public_key"]
        block_start = text.index(f"id: {member}\n")
        at = text.index("public_key: null", block_start)
        text = text[:at] + f"public_key: {public}" + text[at + len("public_key: null"):]
    board_file.write_text(text.replace("\nversion: 1\n", "\nversion: 2\n"))   # content changed: version up

    def run(*args):
        result = runner.invoke(cli, [*args, "--kb", str(root)])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "every entry from it on must be signed" in run("review", "adopt-roster", "--key",
                                                          str(home / "priya-nair.key"))
    for rule in ("measurement.significant_decrease", "measurement.significant_increase", RULE):
        run("review", "start", rule, "--key", str(home / "lena-ortiz.key"))
        run("review", "approve", rule, "--by", "Dr Sam Okafor", "--coi", "none", "--key", str(home / "sam-okafor.key"))
    out = run("review", "verify")
    assert "63 entries, hash chain intact" in out and "entries 58 to 63 signed and verified" in out
    result = json.loads(run("evaluate", str(root / "knowledge" / "cases" / "spine-up-hip-down.yaml"),
                            "--format", "json"))
    pattern = next(c for c in result["conclusions"] if c["code"] == RULE)
    assert pattern["rule"]["status"] == "approved" and "caution" not in pattern
    assert "signed by priya-nair" in run("release", "9.0.0", "--key", str(home / "priya-nair.key"))
    assert "anchored by release 9.0.0" in run("review", "verify", "--release", "9.0.0")


# ---------------------------------------------------------------- the verdict cache

def test_an_unchanged_ledger_is_not_verified_again_on_a_cold_path(mini_kb_root, tmp_path, monkeypatch):
    approved_scenario(mini_kb_root)
    monkeypatch.delenv("BMDKB_NO_CACHE", raising=False)
    monkeypatch.setenv("BMDKB_CACHE_DIR", str(tmp_path / "cache"))
    checked = []
    real = signing.valid
    monkeypatch.setattr(signing, "valid", lambda *a: checked.append(1) or real(*a))
    path = ledger_path(mini_kb_root)
    first = verdicts.reading(path)
    assert first.ok and len(checked) >= 5             # 4 entries and the roster
    checked.clear()
    again = verdicts.reading(path)
    assert again.ok and again.entries == first.entries and checked == []
    # One byte changed: verified again, and the edit found.
    path.write_bytes(path.read_bytes().replace(b'"coi":"none"', b'"coi":"nonE"'))
    broken = verdicts.reading(path)
    assert not broken.ok and "entry 3" in broken.broken.message
    # A broken verdict is never stored.
    assert len(list((tmp_path / "cache").glob("ledger-*"))) == 1


def test_a_decision_leaves_the_verdict_on_what_it_wrote_so_the_next_one_does_not_verify_again(mini_kb_root, tmp_path,
                                                                                            monkeypatch):
    approved_scenario(mini_kb_root)
    monkeypatch.delenv("BMDKB_NO_CACHE", raising=False)
    monkeypatch.setenv("BMDKB_CACHE_DIR", str(tmp_path / "cache"))
    act(mini_kb_root, "start", BO, rule="check.fall_risk.considered")     # verifies 4 entries, remembers 5
    checked = []
    real = signing.valid
    monkeypatch.setattr(signing, "valid", lambda *a: checked.append(1) or real(*a))
    governance.decide(knowledge_base.load(mini_kb_root), "approve", "check.fall_risk.considered", coi="none", now=NOW,
                      key=keyring.key(mini_kb_root, CY))
    assert governance.statuses(knowledge_base.load(mini_kb_root), NOW)["check.fall_risk.considered"].approved
    assert checked == []
    monkeypatch.setenv("BMDKB_NO_CACHE", "1")    # and what was remembered is what a full check finds
    assert ledger.read(ledger_path(mini_kb_root)).entries == verdicts.reading(ledger_path(mini_kb_root)).entries


def test_a_roster_where_two_members_share_a_key_is_not_adopted(mini_kb_root):
    keyring.ensure(mini_kb_root)
    board = yaml.safe_load((mini_kb_root / keyring.BOARD).read_text())
    board["members"][1]["public_key"] = board["members"][2]["public_key"]
    keyring.write_board(mini_kb_root, board)
    with pytest.raises(governance.ReviewError, match="two members have the same public key"):
        governance.adopt_roster(knowledge_base.load(mini_kb_root), keyring.key(mini_kb_root, "ed"))


def test_a_pinned_genesis_roster_catches_a_history_rewritten_with_new_keys(runner, mini_kb_root):
    """The attack no chain can see: the whole roster log rewritten from its start with keys the attacker
    made. Pinned outside the repository, the genesis digest `verify` prints catches it."""
    approved_scenario(mini_kb_root)
    printed = verify(runner, mini_kb_root).stdout
    genesis = next(line.split()[2] for line in printed.splitlines() if line.startswith("genesis roster "))
    assert verify(runner, mini_kb_root, "--genesis", genesis).exit_code == 0
    fails(verify(runner, mini_kb_root, "--genesis", "sha256:" + "0" * 64),
          f"the genesis roster is {genesis}, not the pinned sha256:{'0' * 64}")
    (mini_kb_root / "provenance" / "roster-log.jsonl").unlink()
    fails(verify(runner, mini_kb_root, "--genesis", genesis), "no roster adopted, but the genesis roster was pinned")


def test_the_log_shows_each_adopted_roster_where_it_took_effect(runner, mini_kb_root):
    approved_scenario(mini_kb_root)
    board = mini_kb_root / "knowledge" / "board.yaml"
    board.write_text(board.read_text() + "  - {id: eve, name: Eve, roles: [reviewer]}\n")
    result = runner.invoke(cli, ["review", "adopt-roster", "--kb", str(mini_kb_root), "--key",
                                 str(keyring.key_file(mini_kb_root, "Ed Editor")), "--note", "Eve joins."])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(cli, ["review", "log", "--kb", str(mini_kb_root)])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    adoptions = [i for i, line in enumerate(lines) if "adopt-roster" in line]
    assert len(adoptions) == 2   # the genesis roster, then the one Eve joins with
    assert "in force from entry 1" in lines[adoptions[0]] and adoptions[0] == 0
    assert "in force from entry 5" in lines[adoptions[1]] and "note: Eve joins." in shown.stdout
    decisions_before = [line for line in lines[:adoptions[1]] if line.strip()[:1].isdigit()]
    assert [line.split()[0] for line in decisions_before] == ["1", "2", "3", "4"]
    one_rule = runner.invoke(cli, ["review", "log", RULE, "--kb", str(mini_kb_root)])
    assert "adopt-roster" not in one_rule.stdout
    as_json = runner.invoke(cli, ["review", "log", "--format", "json", "--kb", str(mini_kb_root)])
    assert all("rule" in e for e in json.loads(as_json.stdout))
