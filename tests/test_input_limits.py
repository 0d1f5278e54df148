"""Inputs that used to crash, hang or exhaust the machine are refused: exit status 2, a
bounded message naming the file and the field, nothing on stdout (engine/common/limits.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from bmdkb.cli.main import cli
from bmdkb.engine.common import limits
from bmdkb.engine.adapters.dxa.adapter import read_case

from conftest import DEMO_CASE


def refused(runner, path, *expected, command="evaluate"):
    """Run ``command`` on ``path``: exit 2, stdout empty, one bounded message naming the file and ``expected``."""
    result = runner.invoke(cli, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" or command == "validate" and "Error" not in result.stdout
    assert result.stderr.startswith(f"Error: {path}: ")
    for text in expected:
        assert text in result.stderr, result.stderr
    assert len(result.stderr) < 2 * (limits.MAX_MESSAGE_CHARS + limits.MAX_FIELD_CHARS)
    return result.stderr


def demo_json() -> dict:
    return read_case(DEMO_CASE)


def write_json_text(tmp_path, text: str, name="case.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["evaluate", "validate"])
def test_nan_and_infinity_are_refused_in_yaml_and_json(runner, tmp_path, command):
    field = "scans[1].sites.total_hip.bmd_g_cm2"
    yaml_case = tmp_path / "nan.yaml"
    yaml_case.write_text(DEMO_CASE.read_text().replace("bmd_g_cm2: 0.749", "bmd_g_cm2: .nan"))
    refused(runner, yaml_case, field, "nan is not a number", command=command)
    yaml_case.write_text(DEMO_CASE.read_text().replace("bmd_g_cm2: 0.749", "bmd_g_cm2: -.inf"))
    refused(runner, yaml_case, field, "-inf is not a number", command=command)
    for literal in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps(demo_json()).replace('"bmd_g_cm2": 0.749', f'"bmd_g_cm2": {literal}')
        refused(runner, write_json_text(tmp_path, text), field, "is not a number", command=command)


def test_json_duplicate_keys_are_refused_like_yaml_ones(runner, tmp_path):
    text = json.dumps(demo_json()).replace('"bmd_g_cm2": 0.749', '"bmd_g_cm2": 0.749, "bmd_g_cm2": 0.7')
    refused(runner, write_json_text(tmp_path, text), "scans[1].sites.total_hip", "duplicate key 'bmd_g_cm2'")


def test_yaml_alias_bomb_is_refused_before_it_grows(runner, tmp_path):
    lines = ["case_id: bomb", "l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    refused(runner, path, f"more than {limits.MAX_ALIASES} alias uses")


def test_recursive_alias_deep_nesting_and_bad_keys_are_refused(runner, tmp_path):
    path = tmp_path / "case.yaml"
    for text, expected in [
        ("case_id: x\nfindings: &f [*f]\n", ["findings[0]", "recursive alias"]),
        ("case_id: x\nfindings: " + "[" * 300 + "]" * 300 + "\n", [f"nested more than {limits.MAX_DEPTH} levels"]),
        ("case_id: x\nfindings: {? [a, b] : true}\n", ["findings", "key <a list> is not a string"]),
        ("case_id: x\nfindings: {? {a: 1} : true}\n", ["findings", "key <a mapping> is not a string"]),
        ("case_id: x\nfindings: {'': true}\n", ["findings", "an empty key"]),
        ("case_id: x\nlabs: {~: 1}\n", ["labs", "key None is not a string"]),
        ("case_id: x\nlabs: {1: 1}\n", ["labs", "key 1 is not a string"]),
    ]:
        path.write_text(text)
        refused(runner, path, *expected)
    deep = write_json_text(tmp_path, '{"case_id": "x", "findings": ' + "[" * 500 + "]" * 500 + "}")
    refused(runner, deep, "findings[0]", f"nested more than {limits.MAX_DEPTH} levels")
    refused(runner, write_json_text(tmp_path, '{"case_id": "x", "": 1}'), "(top level)", "an empty key")


def test_a_file_over_the_size_limit_is_refused_unread(runner, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(DEMO_CASE.read_text() + "# " + "x" * limits.MAX_FILE_BYTES + "\n")
    refused(runner, path, f"larger than {limits.MAX_FILE_BYTES} bytes (the limit)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "case.yaml"
    os.mkfifo(fifo)
    for command in ("evaluate", "validate"):
        result = subprocess.run([sys.executable, "-m", "bmdkb.cli.main", command, str(fifo)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "Error" not in result.stdout
        assert f"Error: {fifo}: not a regular file (a FIFO)" in result.stderr


def test_messages_are_bounded_whatever_the_value_quoted(runner, tmp_path):
    case = demo_json()
    case["patient"].update({f"extra_{i}": i for i in range(2000)})   # 2,000 unknown fields
    path = write_json_text(tmp_path, json.dumps(case))
    result = runner.invoke(cli, ["evaluate", str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == limits.MAX_PROBLEMS + 1 and lines[-1].endswith("more problems")
    assert max(len(line) for line in lines) < limits.MAX_MESSAGE_CHARS + 2 * limits.MAX_FIELD_CHARS
    del case["patient"]
    case["case_id"] = ["x" * 900_000]   # quoted in full by jsonschema's message
    path.write_text(json.dumps(case))
    message = refused(runner, path, "case_id", "more characters)")
    assert len(message) < limits.MAX_MESSAGE_CHARS + limits.MAX_FIELD_CHARS


def test_batch_gives_each_bad_case_its_error_line_with_the_same_message(runner, tmp_path):
    good = json.dumps(demo_json())
    lines = [good, good.replace('"bmd_g_cm2": 0.749', '"bmd_g_cm2": NaN'),
             good.replace('"bmd_g_cm2": 0.749', '"bmd_g_cm2": 0.749, "bmd_g_cm2": 0.7'),
             '{"case_id": "x", "findings": ' + "[" * 100 + "]" * 100 + "}",
             '"' + "x" * (limits.MAX_FILE_BYTES + 10) + '"', good]
    registry = tmp_path / "registry.jsonl"
    registry.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", str(registry), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 2 and result.stdout == ""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and "error" not in rows[0] and "error" not in rows[5]
    messages = [rows[i]["error"]["message"] for i in (1, 2, 3, 4)]
    assert messages[0] == (f"{registry}:line 2: scans[1].sites.total_hip.bmd_g_cm2: nan is not a number "
                           "(NaN and infinities are refused)")
    assert messages[1] == f"{registry}:line 3: scans[1].sites.total_hip: duplicate key 'bmd_g_cm2'"
    assert "nested more than" in messages[2] and "larger than" in messages[3]
    assert all(rows[i]["error"]["kind"] == "input" for i in (1, 2, 3, 4))
    single = write_json_text(tmp_path, lines[1])
    assert runner.invoke(cli, ["evaluate", str(single)]).stderr == \
        "Error: " + messages[0].replace(f"{registry}:line 2", str(single)) + "\n"


def test_a_yaml_folder_in_batch_refuses_a_bomb_as_its_case(runner, tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "a.yaml").write_text(DEMO_CASE.read_text())
    (folder / "b.yaml").write_text("case_id: x\nfindings: &f [*f]\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", str(folder), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert "error" not in rows[0] and "recursive alias" in rows[1]["error"]["message"]


def test_a_key_with_a_line_break_stays_one_line_per_problem(runner, tmp_path):
    """Found by the fuzz suite: a key holding a carriage return split a message over two lines."""
    case = demo_json()
    case["treatment"]["\rnote\u2028"] = []
    stderr = refused(runner, write_json_text(tmp_path, json.dumps(case)), "treatment.\\rnote\\u2028: unknown field")
    assert len(stderr.splitlines()) == 1
