"""Clients, policies and limits through the real `mcproute serve --transport http` process.

Three named clients and the legacy token over one gateway in front of the real time and git
servers (PyPI `mcp-server-time`, `mcp-server-git`), spoken to with the official SDK client and
raw HTTP: each sees and can call only its own tools (a hidden tool is *unknown*, exactly like a
tool that does not exist), an over-limit client gets 429 with Retry-After, a budget is spent by
real calls to a fake OpenAI-wire provider, and both hold across a restart on the same data dir.
No key ever reaches the traces, the state files or the log.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from fakes.llm_server import FakeLLM, fake_llm
from mcproute.access.keys import new_key
from mcproute.config_clients import hash_key
from runtime_support import child_env, serve_http

ALICE, BOB, CAROL, TOKEN = new_key(), new_key(), new_key(), new_key()
MODERN = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2026-07-28",
}
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "test_access", "version": "1"},
}
TINY_BUDGET = 0.00003  # the fake provider's default reply costs 12 in + 5 out tokens = $0.000022 at $1/$2 per 1M


def git_repo(path: Path) -> Path:
    path.mkdir()
    for cmd in (
        ["init", "-q"],
        ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "first"],
    ):
        subprocess.run(["git", *cmd], cwd=path, check=True)
    return path


def write_config(tmp: Path, llm: FakeLLM) -> Path:
    config = {
        "data_dir": str(tmp / "data"),
        "servers": {
            "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
            "git": {
                "command": sys.executable,
                "args": ["-m", "mcp_server_git", "--repository", str(git_repo(tmp / "repo"))],
            },
        },
        "models": {
            "quick": {
                "provider": "openai",
                "model": "gpt-test",
                "tier": "fast",
                "price": {"input": 1.0, "output": 2.0},
                "deployments": [{"base_url": llm.openai_url, "api_key": "sk-fake-provider-key-0000"}],
            },
            "deep": {
                "tier": "reasoning",
                "provider": "scripted",
                "script": "runtime_scripts:deep",
                "price": {"input": 3.0, "output": 15.0},
            },
        },
        "gateway": {"http": {"token": TOKEN}},
        "clients": {
            # A clear key from the environment (hashed at load), and hashes pasted from `mcproute keys new`.
            "alice": {
                "key": "${ALICE_KEY}",
                "servers": {"allow": ["time"]},
                "tiers": ["fast"],
                "models": {"allow": ["quick"]},
                "limits": {"usd_per_day": TINY_BUDGET},
            },
            "bob": {"key_sha256": hash_key(BOB), "tools": {"allow": ["git__*", "!git__git_commit"]}},
            "carol": {"key_sha256": hash_key(CAROL), "limits": {"requests_per_minute": 2}},
        },
        "routing": {"encoder": {"enabled": False}},
        "telemetry": {"exporter": "jsonl"},
    }
    path = tmp / "servers.yaml"
    path.write_text(json.dumps(config))
    return path


LOG: list[bytes] = []  # every gateway's stderr (at INFO), searched for keys at the end


@asynccontextmanager
async def gateway(config: Path) -> AsyncIterator[tuple[Any, str]]:
    async with serve_http(config, log=LOG, graceful=True, ALICE_KEY=ALICE, PYTHONWARNINGS="ignore") as served:
        yield served


@asynccontextmanager
async def client_for(url: str, key: str, mode: str = "auto", **headers: str) -> AsyncIterator[Client]:
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {key}", **headers}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


async def names(url: str, key: str, mode: str = "auto", **headers: str) -> set[str]:
    async with client_for(url, key, mode, **headers) as client:
        return {t.name for t in (await client.list_tools()).tools}


async def call_error(client: Client, name: str, arguments: dict[str, Any]) -> MCPError:
    with pytest.raises(MCPError) as info:
        await client.call_tool(name, arguments)
    return info.value


# Async HTTP throughout: the fake provider is served by this test's own event loop.
async def post(url: str, key: str | None, body: dict[str, Any], **extra: str) -> httpx.Response:
    headers = {**MODERN, "Mcp-Method": body["method"], **extra}
    if "name" in body["params"]:
        headers["Mcp-Name"] = body["params"]["name"]
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers=headers)


async def get(url: str, key: str | None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url, headers={"Authorization": f"Bearer {key}"} if key else {})


def rpc(method: str, params: dict[str, Any] | None = None, rid: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": {**(params or {}), "_meta": META}}


async def chat(base: str, key: str, model: str = "auto") -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{base}/v1/chat/completions",
            # no-store: every request must reach the provider and spend (a repeat would be a reply-cache hit).
            headers={"Authorization": f"Bearer {key}", "Cache-Control": "no-store"},
            json={"model": model, "messages": [{"role": "user", "content": "say hello in one word"}]},
        )


@pytest.mark.anyio
async def test_two_clients_see_and_call_only_their_own_tools(tmp_path: Path) -> None:
    async with fake_llm() as llm, gateway(write_config(tmp_path, llm)) as (_, url):
        base = url.removesuffix("/mcp")
        everything = await names(url, TOKEN)  # the legacy token: the full-access default client
        assert {"time__get_current_time", "git__git_status", "git__git_commit", "mcproute__run_step"} <= everything
        for mode in ("auto", "legacy"):  # both protocol eras
            alice, bob = await names(url, ALICE, mode), await names(url, BOB, mode)
            meta = {n for n in everything if n.startswith("mcproute__")}
            assert alice == meta | {n for n in everything if n.startswith("time__")}
            assert bob == meta | ({n for n in everything if n.startswith("git__")} - {"git__git_commit"})
        # A caller cannot claim another principal: the guard replaces the header with the key's owner.
        assert await names(url, BOB, **{"X-Mcproute-Client": "alice"}) == bob

        async with client_for(url, ALICE) as a, client_for(url, BOB) as b:
            ok = await a.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not ok.is_error
            assert not (await b.call_tool("git__git_status", {"repo_path": str(tmp_path / "repo")})).is_error
            # The other's tool is unknown, in the very words a tool that does not exist gets.
            hidden = await call_error(a, "git__git_status", {"repo_path": str(tmp_path / "repo")})
            missing = await call_error(a, "git__no_such_tool", {})
            assert hidden.error.code == missing.error.code == types.INVALID_PARAMS
            assert hidden.error.message.replace("git__git_status", "X") == missing.error.message.replace(
                "git__no_such_tool", "X"
            )
            assert "git" not in hidden.error.message.replace("git__git_status", "")  # names nothing alice may not see
            assert (
                await call_error(b, "time__get_current_time", {"timezone": "UTC"})
            ).error.code == types.INVALID_PARAMS
            assert (
                await call_error(b, "git__git_commit", {"repo_path": ".", "message": "x"})
            ).error.code == types.INVALID_PARAMS
            # Search and routing offer only the client's own tools.
            found = await a.call_tool("mcproute__search_tools", {"query": "show the git commit log of the repository"})
            assert found.structured_content is not None
            assert all(t["name"].startswith("time__") for t in found.structured_content["tools"])
            async with client_for(url, TOKEN) as everyone:  # the control: unrestricted, this step routes to a time tool
                control = await everyone.call_tool("mcproute__route", {"text": "what time is it in Tokyo right now"})
                assert control.structured_content is not None and control.structured_content["tool"].startswith(
                    "time__"
                )
            routed = await b.call_tool(
                "mcproute__route", {"text": "what time is it in Tokyo right now", "conversation_id": "b1"}
            )
            assert routed.structured_content is not None
            assert all(not c["name"].startswith("time__") for c in routed.structured_content.get("alternatives", []))
            assert not str(routed.structured_content.get("tool") or "").startswith("time__")

        # Models: alice may use only the fast tier's `quick`; a hidden model or tier is unknown to her.
        for model in ("deep", "reasoning"):
            refused = await chat(base, ALICE, model)
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "model_not_found", refused.text
            assert "deep" not in refused.json()["error"]["message"].split("use one of:")[1]
        listed = (await get(f"{base}/v1/models", ALICE)).json()
        assert {m["id"] for m in listed["data"]} == {"auto", "fast", "quick"}
        answered = await chat(base, BOB, "auto")  # bob's hard-to-say-no step may use any model
        assert answered.status_code == 200, answered.text
        routed_alice = await chat(base, ALICE, "auto")
        assert routed_alice.status_code == 200 and routed_alice.headers["x-mcproute-model"] == "quick"

        status = await get(f"{base}/status", ALICE)
        assert status.status_code == 200 and not any(
            k in status.text for k in (ALICE, BOB, CAROL, TOKEN, hash_key(ALICE))
        )
        # Wrong, missing, or a key's hash instead of the key: 401 on every guarded route.
        for key in ("mcpr_wrong", None, hash_key(ALICE)):
            assert (await post(url, key, rpc("tools/list"))).status_code == 401
            assert (await get(f"{base}/status", key)).status_code == 401
            assert (await get(f"{base}/v1/models", key)).status_code == 401


async def _wait_for_fresh_minute(need: float) -> None:
    """Limits count per UTC minute: start where `need` seconds fit before the window turns."""
    left = 60 - time.time() % 60
    if left < need:
        await anyio.sleep(left + 0.1)


@pytest.mark.anyio
async def test_rate_limit_and_budget_give_429_and_hold_across_restart(tmp_path: Path) -> None:
    async with fake_llm() as llm:
        config = write_config(tmp_path, llm)
        await _wait_for_fresh_minute(40)  # the whole test, restart included, stays in one minute window
        minute = math.floor(time.time() / 60)
        async with gateway(config) as (_, url):
            base = url.removesuffix("/mcp")
            first, second = await post(url, CAROL, rpc("tools/list")), await post(url, CAROL, rpc("tools/list", rid=2))
            assert first.status_code == second.status_code == 200, first.text
            third = await post(
                url,
                CAROL,
                rpc("tools/call", {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}, rid=3),
            )
            assert third.status_code == 429
            retry = int(third.headers["retry-after"])
            assert 1 <= retry <= 60
            error = third.json()["error"]
            assert third.json()["id"] == 3
            assert error["data"] == {
                "status": 429,
                "retry_after": retry,
                "limit": "requests_per_minute",
                "client": "carol",
            }
            assert (await post(url, BOB, rpc("tools/list"))).status_code == 200  # one client's limit is not another's

            # alice's budget: each call to the fake provider costs $0.000022; the second passes the budget.
            assert (await chat(base, ALICE)).status_code == 200
            assert (await chat(base, ALICE)).status_code == 200
            over = await chat(base, ALICE)
            assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limit_exceeded"
            assert 0 < int(over.headers["retry-after"]) <= 86_400
            spent = len([r for r in llm.requests if r.path == "/v1/chat/completions"])
            assert spent == 2  # the refused request never reached the provider
            step = await post(
                url, ALICE, rpc("tools/call", {"name": "mcproute__run_step", "arguments": {"text": "what time is it"}})
            )
            assert step.status_code == 429 and step.json()["error"]["data"]["limit"] == "usd_per_day"
            # Plain tool calls spend nothing: the budget does not stop them.
            assert (
                await post(
                    url, ALICE, rpc("tools/call", {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}})
                )
            ).status_code == 200

        async with gateway(config) as (_, url):  # same data_dir: the counters live in the state store
            base = url.removesuffix("/mcp")
            assert math.floor(time.time() / 60) == minute, "the restart took the test past its minute window"
            again = await post(url, CAROL, rpc("tools/list"))
            assert again.status_code == 429 and again.json()["error"]["data"]["limit"] == "requests_per_minute"
            assert (await chat(base, ALICE)).status_code == 429
            assert len([r for r in llm.requests if r.path == "/v1/chat/completions"]) == spent
            assert (await post(url, BOB, rpc("tools/list"))).status_code == 200

    # The keys are nowhere on disk: not in the traces, not in the state store.
    data = tmp_path / "data"
    spans = [json.loads(line) for f in data.glob("*.jsonl") for line in f.read_text().splitlines() if line.strip()]
    assert spans, "no spans were exported"
    principals = {s.get("attributes", {}).get("mcproute.client") for s in spans}
    assert {"alice", "bob", "carol"} <= principals
    blobs = {str(f): f.read_bytes() for f in data.rglob("*") if f.is_file()}
    blobs["the gateway's log"] = b"".join(LOG)
    assert b"mcproute: serving" in blobs["the gateway's log"]
    for where, blob in blobs.items():
        for key in (ALICE, BOB, CAROL, TOKEN):
            assert key.encode() not in blob, f"a client key leaked into {where}"


def test_keys_new_prints_a_key_whose_hash_it_prints() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mcproute", "keys", "new", "dana"],
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key = out.split("it is not stored anywhere): ", 1)[1].split()[0]
    assert f"key_sha256: {hash_key(key)}" in out and "  dana:" in out
    assert len(key) >= 40
