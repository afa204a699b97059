"""Issue 14, item 8: one server cannot take another server's tool name.

Server names and prefixes may not contain the separator and prefixes are unique, so
`<prefix>__<tool>` always says which server a tool is from: a server `a__b` (whose `c` would be
`a__b__c`, the same name as server `a`'s `b__c`) is refused by `mcproute check` with its line.
What is left — two names of one server meeting after rewriting (`x y`, `x_y`) — is resolved by
listing order and shown by `mcproute tools` (text and `--json`) and `/status`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
from mcp import Client

from runtime_support import child_env
from security_support import serve_child

NAMES = str(Path(__file__).parent / "fixtures" / "names_server.py")
TIME = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}


def _mcproute(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcproute", *args], env=child_env(), capture_output=True, text=True, timeout=120
    )


def test_a_server_name_holding_the_separator_or_a_shared_prefix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "servers.yaml"
    path.write_text(
        f"servers:\n  a:\n    command: {sys.executable}\n    args: [{NAMES}]\n  a__b:\n    command: {sys.executable}\n"
        f"    args: [-m, mcp_server_time]\n  c:\n    command: x\n    prefix: a\n"
    )
    run = _mcproute("check", "--config", str(path))
    assert run.returncode != 0
    assert f"{path}:5:3: servers.a__b: server name 'a__b' contains the tool-name separator '__'" in run.stderr, (
        run.stderr
    )
    assert f"{path}:10:5: servers.c.prefix: tool prefix 'a' is already server 'a''s" in run.stderr, run.stderr


def test_awkward_names_resolve_predictably_and_are_shown(tmp_path: Path) -> None:
    config = tmp_path / "servers.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "data"),
                "telemetry": {"exporter": "none"},
                "servers": {"a": {"command": sys.executable, "args": [NAMES]}, "time": TIME},
            }
        )
    )
    expected = "tool 'x_y' of server 'a' maps to 'a__x_y', already taken by 'x y' of server 'a'; it is hidden"
    with serve_child(config) as (_, base, _err):
        with httpx.Client(timeout=30) as http:
            assert http.get(f"{base}/status").json()["collisions"] == [expected]

        async def calls() -> tuple[list[str], str, bool]:
            async with Client(f"{base}/mcp") as c:
                names = [t.name for t in (await c.list_tools()).tools]
                sep = (await c.call_tool("a__b__c", {})).content[0].text  # type: ignore[union-attr]
                other = not (await c.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error
                return names, sep, other

        names, sep, other = anyio.run(calls)
        assert {"a__b__c", "a__x_y"} <= set(names) and sep == "b__c" and other
    text = _mcproute("tools", "--config", str(config))
    assert f"collision: {expected}" in text.stdout + text.stderr
    as_json = json.loads(_mcproute("tools", "--config", str(config), "--json").stdout)
    assert as_json["collisions"] == [expected]
    assert {t["name"]: t["original"] for t in as_json["tools"] if t["server"] == "a"} == {
        "a__b__c": "b__c",
        "a__x_y": "x y",
    }
