"""A `${VAR}` that is not set makes only the server that uses it unavailable, named, wherever in
the server's entry it appears (args, env, headers, url); `serve` keeps serving the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from mcproute.config import parse_config
from security_support import serve_child

# Variable names no machine sets; each server uses one in a different place.
BROKEN_SERVERS = {
    "in_args": {"command": "python", "args": ["-m", "mcp_server_time", "--local-timezone", "${MCPROUTE_T_NO_TZ}"]},
    "in_env": {"command": "python", "args": ["-m", "mcp_server_time"], "env": {"TZ": "${MCPROUTE_T_NO_ENV}"}},
    "in_headers": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${MCPROUTE_T_NO_TOKEN}"}},
    "in_url": {"url": "${MCPROUTE_T_NO_URL}"},
}
VARIABLE = {
    "in_args": "MCPROUTE_T_NO_TZ",
    "in_env": "MCPROUTE_T_NO_ENV",
    "in_headers": "MCPROUTE_T_NO_TOKEN",
    "in_url": "MCPROUTE_T_NO_URL",
}


def write_config(tmp_path: Path) -> Path:
    cfg = {
        "data_dir": str(tmp_path / "data"),
        "servers": {
            "time": {"command": "python", "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
            **BROKEN_SERVERS,
        },
        "telemetry": {"exporter": "none"},
        "routing": {"encoder": {"enabled": False}},
    }
    path = tmp_path / "servers.yaml"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def test_serve_starts_and_status_names_the_missing_variable_of_each_server(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    with serve_child(path) as (_, base, stderr):
        report = httpx.get(base + "/status", timeout=10).json()
        printed = stderr.read_text()
    servers = report["servers"]
    assert servers["time"]["state"] == "healthy" and servers["time"]["tools"] == 2
    for name, variable in VARIABLE.items():
        assert servers[name]["state"] == "unavailable", (name, servers[name])
        assert variable in servers[name]["reason"] and f"servers.{name}." in servers[name]["reason"]
        assert f"server {name!r} is unavailable: environment variable {variable} is not set" in printed
    assert "Input should be a valid string" not in printed and "LocalProtocolError" not in printed


def test_check_names_each_missing_variable_once_with_its_line(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mcproute", "check", "--config", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    issues = json.loads(done.stdout)
    assert sorted(i["message"] for i in issues) == sorted(
        f"environment variable {v} is not set" for v in VARIABLE.values()
    )
    assert all(i["kind"] == "missing_env" and i["line"] for i in issues)


def test_an_unavailable_server_keeps_its_text_as_written_and_others_are_untouched() -> None:
    loaded = parse_config(
        'servers:\n  a: {command: python, args: ["--tz", "${NOPE}"], env: {K: "${NOPE}"}}\n'
        '  b: {command: python, args: ["${SET}"]}\n',
        environ={"SET": "x"},
    )
    a, b = loaded.config.servers["a"], loaded.config.servers["b"]
    assert a.args == ["--tz", "${NOPE}"] and a.env == {"K": "${NOPE}"}
    assert b.args == ["x"]
    assert [i.path for i in loaded.missing_env_under("servers.a")] == ["servers.a.args[1]", "servers.a.env.K"]
