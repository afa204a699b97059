"""`mcproute check` names every mistake a newcomer makes in servers.yaml, with file:line:column,
sorted by position, and suggests what was meant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcproute.config import ROUTED_MODEL_NAMES, parse_config
from mcproute.errors import ConfigError
from mcproute.openai_api.wire import model_list


def check(tmp_path: Path, text: str) -> tuple[int, list[dict]]:
    path = tmp_path / "servers.yaml"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "mcproute", "check", "--config", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


def test_a_server_written_twice_is_an_error_at_the_second_naming_the_first(tmp_path: Path) -> None:
    rc, issues = check(
        tmp_path, "servers:\n  time:\n    command: python\n  git: {command: python}\n  time:\n    command: sh\n"
    )
    assert rc == 1
    (dup,) = issues
    assert (dup["path"], dup["line"], dup["column"]) == ("servers.time", 5, 3)
    assert "written twice" in dup["message"] and "first at line 2, column 3" in dup["message"]
    with pytest.raises(ConfigError, match="written twice"):  # serve refuses it too: which one was meant?
        parse_config("servers:\n  a: {command: x}\n  a: {command: y}\n")


def test_a_command_that_is_not_on_path_nor_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "here").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "here").chmod(0o755)
    rc, issues = check(
        tmp_path,
        "servers:\n"
        "  found: {command: sh}\n"  # on PATH
        "  own: {command: python}\n"  # mcproute's interpreter
        "  beside: {command: ./bin/here}\n"  # relative to the config's folder
        "  missing: {command: mcproute-no-such-server}\n"
        "  gone: {command: ./bin/gone}\n"
        "  spare: {command: mcproute-no-such-server, enabled: false}\n",
    )
    assert rc == 1
    assert [(i["path"], i["line"], i["column"]) for i in issues] == [
        ("servers.missing.command", 5, 13),
        ("servers.gone.command", 6, 10),
    ]
    assert "'mcproute-no-such-server' is not found on PATH" in issues[0]["message"]
    assert (
        "'./bin/gone' does not exist" in issues[1]["message"] and str(tmp_path / "bin" / "gone") in issues[1]["message"]
    )


def test_a_tool_pattern_that_names_a_server_can_match_nothing(tmp_path: Path) -> None:
    rc, issues = check(
        tmp_path,
        "servers:\n"
        "  time: {command: python}\n"
        "  git:\n"
        "    command: python\n"
        "    tools:\n"
        "      deny: [git_reset, 'git__git_commit', 'github__*', 'time__convert_time', '*__x']\n",
    )
    assert rc == 1
    assert [i["path"] for i in issues] == [
        "servers.git.tools.deny[1]",
        "servers.git.tools.deny[2]",
        "servers.git.tools.deny[3]",
    ]
    assert all(i["line"] == 6 for i in issues) and [i["column"] for i in issues] == sorted(i["column"] for i in issues)
    own, absent, other = (i["message"] for i in issues)
    assert "names this server's prefix" in own and "write 'git_commit'" in own
    assert "'github' that is not in servers:" in absent
    assert "names server 'time'" in other


@pytest.mark.parametrize("name", ROUTED_MODEL_NAMES)
def test_a_model_named_like_a_routed_name_is_an_error(tmp_path: Path, name: str) -> None:
    rc, issues = check(
        tmp_path, f"models:\n  ok: {{provider: scripted, tier: fast}}\n  {name}: {{provider: scripted, tier: fast}}\n"
    )
    assert rc == 1
    (issue,) = issues
    assert (issue["path"], issue["line"], issue["column"]) == (f"models.{name}", 3, 3)
    assert "routed names" in issue["message"]


def test_the_routed_names_are_the_ones_v1_models_lists_before_the_configured_models() -> None:
    assert tuple(row["id"] for row in model_list({})["data"]) == ROUTED_MODEL_NAMES


def test_every_error_comes_sorted_by_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "servers.yaml"
    path.write_text(
        "servers:\n"
        "  c: {command: python, timeout: -1, comand: x}\n"  # two errors on line 2
        "  d: {url: 'http://h/mcp', headers: {A: '${MCPROUTE_T_UNSET}'}}\n"
        "  e: {command: python, args: [a], args: [b]}\n"  # a duplicate key (line 4)
        "models:\n"
        "  fast: {provider: scripted, tier: fast, temprature: 1}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mcproute", "check", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    positions = [tuple(int(n) for n in line.split(": ")[1].rsplit(":", 2)[1:]) for line in done.stderr.splitlines()]
    assert len(positions) == 6 and positions[0][0] == 2, done.stderr
    assert positions == sorted(positions)
    assert all(line.startswith(f"error: {path}:") for line in done.stderr.splitlines())


@pytest.mark.parametrize(
    ("text", "line", "column", "says"),
    [
        # A quote never closed: PyYAML fails at the end of the file, a line past the last.
        ('servers:\n  time:\n    command: "python\n', 3, 14, "quoted scalar starts here and is never closed"),
        # A missing ']': the next line is read as part of the last item.
        ("servers:\n  time:\n    command: python\n    args: [a, b\n  x: 1\n", 4, 16, "missing at the end of line 4"),
        # A missing ':' after a key: the next line is read as the rest of that key.
        ("servers:\n  time\n    command: python\n", 2, 7, "missing at the end of line 2"),
        # A missing '}' before the next line.
        ("servers: {time: {command: python}\nmodels: {}\n", 1, 34, "closing bracket missing"),
        # Bad indentation is where the indentation is.
        ("servers:\n  time:\n    command: python\n   args: [x]\n", 4, 4, "expected <block end>"),
        ("servers:\n  time:\n    command: python: x\n", 3, 20, "needs quotes"),
    ],
)
def test_a_yaml_syntax_error_points_at_the_mistakes_line_and_column(
    tmp_path: Path, text: str, line: int, column: int, says: str
) -> None:
    rc, issues = check(tmp_path, text)
    assert rc == 1
    (issue,) = issues
    assert (issue["line"], issue["column"]) == (line, column), issue
    assert says in issue["message"] and issue["message"].startswith("invalid YAML: ")


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        (
            "models:\n  m: {provider: scripted, tier: fast, temprature: 0.2}\n",
            "did you mean 'temperature'? mcproute takes sampling",
        ),
        ("servers:\n  a: {comand: python}\n", "did you mean 'command'?"),
        ("gateway: {seperator: '__'}\n", "did you mean 'separator'?"),
        ("port: 8000\n", "it belongs under gateway.http"),
        ("servers:\n  a: {command: python, tools: {alow: [x]}}\n", "did you mean 'allow'?"),
        ("servers:\n  a: {command: python, type: stdio}\n", "transport follows from 'command'"),
    ],
)
def test_an_unknown_key_suggests_what_is_valid_at_that_place(tmp_path: Path, text: str, suggestion: str) -> None:
    rc, issues = check(tmp_path, text)
    assert rc == 1
    assert any(i["message"].startswith("unknown key") and suggestion in i["message"] for i in issues), issues
    assert not any("separator" in i["message"] for i in issues if "temprature" in i["message"])


def test_a_key_with_no_near_match_gets_no_suggestion(tmp_path: Path) -> None:
    rc, issues = check(tmp_path, "servers:\n  a: {command: python, zzzqqq: 1}\n")
    (issue,) = issues
    assert issue["message"] == "unknown key 'zzzqqq'"
