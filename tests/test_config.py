"""servers.yaml: what parses, and how every kind of mistake is reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcproute.config import parse_config
from mcproute.config_import import import_client_config
from mcproute.errors import ConfigError

ISSUE_EXAMPLE = """
servers:
  time:   {command: python, args: ["-m", "mcp_server_time"], env: {TZ: UTC}}
  remote: {url: "http://127.0.0.1:9000/mcp", headers: {Authorization: "Bearer ${TOKEN}"}}
"""


def test_the_mcpservers_shaped_example_parses_and_interpolates() -> None:
    loaded = parse_config(ISSUE_EXAMPLE, environ={"TOKEN": "s3cret"})
    remote = loaded.config.servers["remote"]
    assert remote.headers["Authorization"] == "Bearer s3cret"
    assert loaded.config.servers["time"].kind == "stdio"
    assert remote.kind == "http"
    assert loaded.issues == ()
    assert "s3cret" in loaded.secrets


def test_default_value_is_used_when_variable_is_unset() -> None:
    loaded = parse_config('servers: {a: {command: "${CMD:-python}"}}', environ={})
    assert loaded.config.servers["a"].command == "python"


def test_missing_variable_is_an_issue_with_its_name_path_and_line() -> None:
    loaded = parse_config(ISSUE_EXAMPLE, environ={}, source="servers.yaml")
    (issue,) = loaded.issues
    assert issue.kind == "missing_env" and issue.variable == "TOKEN"
    assert issue.path == "servers.remote.headers.Authorization"
    assert issue.line == 4
    assert loaded.missing_env_under("servers.remote") == [issue]
    assert loaded.missing_env_under("servers.time") == []


def test_an_empty_variable_counts_as_unset_as_in_the_shell() -> None:
    loaded = parse_config(
        ISSUE_EXAMPLE + 'models:\n  quick: {provider: openai, model: m, api_key: "${OPENAI_API_KEY}", tier: fast}\n',
        environ={"TOKEN": "t", "OPENAI_API_KEY": ""},
    )
    (issue,) = loaded.issues
    assert issue.variable == "OPENAI_API_KEY" and issue.message == "environment variable OPENAI_API_KEY is empty"
    assert loaded.config.models["quick"].api_key is None
    assert (
        parse_config('servers: {a: {command: "${CMD:-python}"}}', environ={"CMD": ""}).config.servers["a"].command
        == "python"
    )


def test_a_stdio_child_runs_in_the_config_files_directory_unless_cwd_says_otherwise(tmp_path: Path) -> None:
    from mcproute.config import load_config

    (tmp_path / "sub").mkdir()
    (tmp_path / "servers.yaml").write_text(
        "servers:\n  git: {command: python, cwd: sub, args: [-m, mcp_server_git]}\n"
        "  abs: {command: python, cwd: /srv}\n  none: {command: python}\n"
        "  web: {url: 'http://127.0.0.1:9/mcp'}\n"
    )
    servers = load_config(tmp_path / "servers.yaml").config.servers
    assert servers["git"].cwd == str(tmp_path.resolve() / "sub")
    assert servers["abs"].cwd == "/srv"
    assert servers["none"].cwd == str(tmp_path.resolve())  # the default: where the config file is
    assert servers["web"].cwd is None  # no child, no directory


def test_misspelt_key_is_reported_with_location_and_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("servers:\n  time:\n    comand: python\n", source="s.yaml")
    messages = [str(i) for i in info.value.issues]
    assert any("s.yaml:3:5: servers.time.comand: unknown key 'comand' (did you mean 'command'?)" in m for m in messages)


def test_wrong_type_in_a_list_names_the_index() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("servers:\n  time:\n    command: python\n    args: [a, {x: 1}]\n")
    assert any(i.path == "servers.time.args[1]" and i.line == 4 for i in info.value.issues)


def test_a_no_tool_threshold_outside_0_1_names_where_it_is() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("servers: {a: {command: x}}\nrouting:\n  no_tool_threshold: 1.5\n", source="s.yaml")
    issue = next(i for i in info.value.issues if i.path == "routing.no_tool_threshold")
    assert issue.line == 3 and "less than 1" in str(issue)


def test_server_needs_exactly_one_transport() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        parse_config("servers: {a: {command: x, url: 'http://h/mcp'}}")
    with pytest.raises(ConfigError, match="exactly one of"):
        parse_config("servers: {a: {}}")


def test_invalid_yaml_reports_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("servers:\n  a: [\n", source="bad.yaml")
    assert info.value.issues[0].line is not None


def test_server_names_are_restricted() -> None:
    with pytest.raises(ConfigError, match="may use only"):
        parse_config("servers: {'my server': {command: x}}")


def test_unprefixed_tools_need_a_single_server() -> None:
    with pytest.raises(ConfigError, match="exactly one enabled server"):
        parse_config("gateway: {prefix_tools: false}\nservers: {a: {command: x}, b: {command: y}}")
    parse_config("gateway: {prefix_tools: false}\nservers: {a: {command: x}}")


@pytest.mark.parametrize(
    "client_json",
    [
        {
            "mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}}}
        },  # Claude Desktop
        {
            "mcpServers": {
                "time": {"command": "uvx", "args": ["mcp-server-time"]},
                "r": {"url": "http://h/mcp", "headers": {"A": "b"}},
            }
        },  # Cursor
        {"servers": {"time": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"]}}},  # VS Code mcp.json
        {"mcp": {"servers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}}}},  # VS Code settings.json
    ],
)
def test_client_configs_import_into_valid_servers_yaml(client_json: dict) -> None:
    converted = import_client_config(json.dumps(client_json))
    assert converted["servers"]["time"]["command"] == "uvx"
    import yaml

    parse_config(yaml.safe_dump(converted))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcproute", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_check_exits_nonzero_and_lists_every_error(tmp_path: Path) -> None:
    cfg = tmp_path / "servers.yaml"
    cfg.write_text("servers:\n  a:\n    comand: x\n  b:\n    command: y\n    timeout: -1\n")
    result = run_cli("check", "--config", str(cfg))
    assert result.returncode == 1
    assert "servers.a.comand" in result.stderr and ":3:" in result.stderr
    assert "servers.b.timeout" in result.stderr and ":6:" in result.stderr


def test_check_passes_on_a_good_config(tmp_path: Path) -> None:
    cfg = tmp_path / "servers.yaml"
    cfg.write_text("servers:\n  a: {command: python}\n  b: {command: sh, args: [-c, 'exit 0']}\n")
    result = run_cli("check", "--config", str(cfg))
    assert result.returncode == 0, result.stderr


def test_config_schema_is_json_schema() -> None:
    result = run_cli("config", "schema")
    schema = json.loads(result.stdout)
    assert "servers" in schema["properties"]


def test_import_writes_yaml(tmp_path: Path) -> None:
    src = tmp_path / "claude_desktop_config.json"
    src.write_text(json.dumps({"mcpServers": {"my time": {"command": "uvx", "args": ["mcp-server-time"]}}}))
    result = run_cli("import", str(src))
    assert result.returncode == 0
    assert "my_time:" in result.stdout
