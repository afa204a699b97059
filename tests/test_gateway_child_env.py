"""Issue 14, item 1: a stdio downstream sees a minimal environment, never the gateway's secrets.

The end-to-end test runs `mcproute serve` as a real subprocess with provider keys in *its*
environment, behind it the real `@modelcontextprotocol/server-everything` (whose `get-env` tool
returns `process.env`), and reads that tool's answer through the gateway as a client would.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client

from mcproute.config import ConfigError, ServerConfig, parse_config
from mcproute.gateway.downstream import child_env
from runtime_support import serve_http, write_config

REPO = Path(__file__).resolve().parents[1]
NODE = REPO / ".peers" / "node_modules" / ".bin" / "node"
EVERYTHING = REPO / ".peers" / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
SECRETS = {
    "OPENAI_API_KEY": "sk-test-openai-000000000000",
    "ANTHROPIC_API_KEY": "sk-ant-test-111111111111",
    "MY_CUSTOM_SECRET": "hunter2-custom-secret-value",
}


def test_child_env_is_the_safe_set_plus_opt_ins_plus_env() -> None:
    environ = {
        "HOME": "/home/u",
        "PATH": "/usr/bin",
        "USER": "u",
        "TERM": "xterm",
        **SECRETS,
        "WANTED": "yes",
        "SHELL": "() { evil; }",  # an exported shell function is never passed on
    }
    cfg = ServerConfig(command="x", inherit_env=["WANTED", "NOT_SET"], env={"OWN": "1", "HOME": "/override"})
    env = child_env(cfg, environ)
    bindir = os.path.dirname(sys.executable)
    assert env == {
        "HOME": "/override",
        "PATH": bindir + os.pathsep + "/usr/bin",
        "USER": "u",
        "TERM": "xterm",
        "WANTED": "yes",
        "OWN": "1",
    }
    # No PATH at all in the gateway's environment: the interpreter's bin/ still comes first.
    assert child_env(ServerConfig(command="x"), {})["PATH"] == bindir


def test_inherit_env_names_are_validated_and_in_the_schema() -> None:
    with pytest.raises(ConfigError, match=r"servers\.a\.inherit_env.*'BAD-NAME' is not an environment variable name"):
        parse_config("servers:\n  a: {command: x, inherit_env: [OK_NAME, BAD-NAME]}\n", environ={})
    loaded = parse_config("servers:\n  a: {command: x, inherit_env: [LANG]}\n", environ={})
    assert loaded.config.servers["a"].inherit_env == ["LANG"]
    from mcproute.config import config_schema

    assert "inherit_env" in config_schema()["$defs"]["ServerConfig"]["properties"]


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.anyio
async def test_a_real_downstream_sees_no_provider_key(tmp_path: Path) -> None:
    assert NODE.exists() and EVERYTHING.exists(), "run scripts/install-peers.sh (the .peers/ Node servers)"
    servers = {
        "everything": {
            "command": str(NODE),
            "args": [str(EVERYTHING), "stdio"],
            "inherit_env": ["SHARED_ON_PURPOSE"],
            "env": {"SET_IN_CONFIG": "from-config"},
        },
    }
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data", servers=servers)
    async with serve_http(config, **SECRETS, SHARED_ON_PURPOSE="visible") as (_, url), Client(url) as client:
        seen = json.loads(_text(await client.call_tool("everything__get-env", {})))
    for name, value in SECRETS.items():
        assert name not in seen
        assert value not in json.dumps(seen)
    assert seen["SHARED_ON_PURPOSE"] == "visible"
    assert seen["SET_IN_CONFIG"] == "from-config"
    assert "PATH" in seen and "HOME" in seen  # what npx-style servers and git need
    # Only the safe set, the opt-in, the config's env (and whatever Node adds for itself).
    assert not {k for k in seen if k.startswith(("OTEL_", "PYTHON", "MCPROUTE"))}
