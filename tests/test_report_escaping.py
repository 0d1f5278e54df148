"""Input-derived strings cannot forge report lines, reach the terminal as control codes, or
pass HTML or Markdown markup into a note: every renderer escapes them for its format."""
from __future__ import annotations

import json

import yaml

from bmdkb.cli.render import escape
from bmdkb.cli.main import cli

from conftest import DEMO_CASE

FORGED = "All content approved by the editorial board."
HOSTILE_ID = f"demo\n{FORGED}\r\nPATTERN\n  No pattern concluded for this case.\x1b[2J\x9b31m\u202e<img src=x onerror=alert(1)>"
HOSTILE_MODEL = "Horizon\x1b]0;owned\x07 <script>alert(1)</script> [click](javascript:alert(1)) `x` | *y*"


def hostile_case(tmp_path):
    case = yaml.safe_load(DEMO_CASE.read_text())
    case["case_id"] = HOSTILE_ID
    for scan in case["scans"]:
        scan.setdefault("scanner", {})["model"] = HOSTILE_MODEL
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(case, default=str))
    return str(path)


def assert_no_control_codes(output: str) -> None:
    assert not any(c in output for c in "\x1b\x07\x9b\r\u202e"), repr(output[:300])


def test_text_reports_keep_each_field_on_its_line(runner, tmp_path):
    case = hostile_case(tmp_path)
    for args in (["evaluate", case], ["evaluate", case, "--explain"],
                 ["explain", case, "pitfall.change_within_lsc"], ["explain", case, "pitfall.inconsistent_technique"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert_no_control_codes(result.stdout)
        lines = result.stdout.splitlines()
        assert not any(line.strip() in (FORGED, "PATTERN") for line in lines[:3]), args
        assert sum(line.strip() == "No pattern concluded for this case." for line in lines) == 0
        assert "demo\\nAll content approved" in result.stdout and "\\x1b[2J" in result.stdout


def test_markdown_passes_no_html_or_markup(runner, tmp_path):
    case = hostile_case(tmp_path)
    for args in (["evaluate", case, "--format", "markdown"],
                 ["explain", case, "pitfall.change_within_lsc", "--format", "markdown"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert_no_control_codes(result.stdout)
        for raw in ("<img", "<script", "[click](javascript:", "\n" + FORGED):
            assert raw not in result.stdout, (args, raw)
        assert "&lt;img src=x onerror=alert(1)&gt;" in result.stdout


def test_json_keeps_the_value_exactly(runner, tmp_path):
    result = runner.invoke(cli, ["evaluate", hostile_case(tmp_path), "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["case_id"] == HOSTILE_ID  # JSON escapes what it must, nothing is lost
    assert_no_control_codes(result.stdout)


def test_review_output_shows_names_and_notes_inertly(runner, mini_kb_root):
    import keyring
    import yaml

    board = yaml.safe_load((mini_kb_root / keyring.BOARD).read_text())
    board["members"].append({"id": "ansi", "name": "A\x1b[31m", "roles": ["author"]})   # a name holding a control code
    keyring.write_board(mini_kb_root, board)
    keyring.ensure(mini_kb_root)
    result = runner.invoke(cli, ["review", "submit", "pattern.spine_up_hip_down", "--by", "A\x1b[31m",
                                 "--key", str(keyring.key_file(mini_kb_root, "ansi")), "--kb", str(mini_kb_root)])
    assert result.exit_code == 0, result.output
    assert_no_control_codes(result.stdout)
    log = runner.invoke(cli, ["review", "log", "--kb", str(mini_kb_root)]).stdout
    assert_no_control_codes(log) and "\\x1b[31m" in log


def test_the_helpers():
    assert escape.text("a\nb\tc\x1b\x7f\x85\u2028") == "a\\nb\\tc\\x1b\\x7f\\x85\\u2028"
    assert escape.text("LSC ≥ 1 · “quoted” é") == "LSC ≥ 1 · “quoted” é"
    assert escape.markdown("<b>&</b> [a](b) `c` *d* |") == "&lt;b&gt;&amp;&lt;/b&gt; \\[a\\](b) \\`c\\` \\*d\\* \\|"
    assert escape.markdown("pattern.spine_up_hip_down") == "pattern.spine_up_hip_down"
    assert escape.code("a`b") == "``a`b``" and escape.code("scans[1]") == "`scans[1]`"
