"""The parts of access control that need no gateway: config, key checks, policy globs, and the
limits over the real SQLite store with an injected clock (windows, budgets, a reopened file);
plus the stdio principal through a real `mcproute serve` child (`stdio_client`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from fakes.clock import FakeClock
from mcproute.access import Access
from mcproute.access.keys import KeyRing, new_key
from mcproute.access.policy import Policy
from mcproute.config import parse_config
from mcproute.config_clients import ClientConfig, hash_key
from mcproute.errors import ClientLimitExceeded, ConfigError
from mcproute.state import MemoryStore, SqliteStore
from runtime_support import child_env, config_dict


def loaded(clients: dict[str, Any], **extra: Any) -> Any:
    return parse_config(json.dumps({"clients": clients, **extra}), environ={"K": "k" * 32})


def test_a_clear_key_is_hashed_at_load_and_never_kept_or_echoed() -> None:
    cfg = loaded({"a": {"key": "${K}"}}).config
    assert cfg.clients["a"].key_sha256 == hash_key("k" * 32)
    assert "k" * 32 not in cfg.model_dump_json()
    with pytest.raises(ConfigError) as info:
        loaded({"a": {"key": "short-secret-9"}})
    assert "short-secret-9" not in str(info.value) and "at least 16 characters" in str(info.value)
    with pytest.raises(ConfigError, match="either key or key_sha256"):
        loaded({"a": {"key": "${K}", "key_sha256": "0" * 64}})
    with pytest.raises(ConfigError, match="64 hex digits"):
        loaded({"a": {"key_sha256": "abc"}})
    with pytest.raises(ConfigError, match="same key"):
        loaded({"a": {"key": "${K}"}, "b": {"key_sha256": hash_key("k" * 32)}})
    with pytest.raises(ConfigError, match="stdio_client 'nobody' is not a name in clients"):
        loaded({"a": {"key": "${K}"}}, stdio_client="nobody")


def test_keyring_names_the_owner_of_a_key_and_nobody_else() -> None:
    alice, bob, token = new_key(), new_key(), new_key()
    ring = KeyRing.build({"alice": hash_key(alice), "bob": hash_key(bob)}, token)
    assert ring.authenticate(f"Bearer {alice}") == "alice"
    assert ring.authenticate(f"bearer  {bob} ".encode()) == "bob"
    assert ring.authenticate(f"Bearer {token}") == "default"
    for wrong in (None, "", alice, f"Basic {alice}", f"Bearer {hash_key(alice)}", f"Bearer {alice}x"):
        assert ring.authenticate(wrong) is None
    assert not KeyRing.build({}).required


def test_policy_globs_deny_wins_and_meta_tools_stay_unless_named() -> None:
    cfg = ClientConfig(
        key_sha256="0" * 64,
        servers={"allow": ["git", "time"]},
        tools={"allow": ["git__*", "time__*", "!git__git_commit"], "deny": ["time__convert_time"]},
        tiers=["fast"],
        models={"allow": ["q*"]},
    )
    p = Policy.of("c", cfg)
    assert p.allows_tool("git__git_status", "git") and p.allows_tool("time__get_current_time", "time")
    assert not p.allows_tool("git__git_commit", "git") and not p.allows_tool("time__convert_time", "time")
    assert not p.allows_tool("fs__read", "fs")
    assert p.allows_tool("mcproute__run_step", "")
    assert not Policy.of("d", ClientConfig(key_sha256="0" * 64, tools={"deny": ["mcproute__*"]})).allows_tool(
        "mcproute__route", ""
    )
    assert (
        p.allows_model("quick", "fast")
        and not p.allows_model("quick", "reasoning")
        and not p.allows_model("deep", "fast")
    )


async def limits(store: Any, clock: FakeClock, **lim: Any) -> Access:
    cfg = loaded({"c": {"key": "${K}", "limits": lim}}).config
    return Access(cfg, store, clock=clock)


@pytest.mark.anyio
async def test_rate_limit_counts_per_window_and_survives_reopening_the_file(tmp_path: Path) -> None:
    clock = FakeClock(start=60 * 1000 + 10)  # 10 s into a minute
    store = SqliteStore(tmp_path / "s.sqlite3", clock=clock)
    access = await limits(store, clock, requests_per_minute=2)
    await access.check_request("c")
    await access.check_request("c")
    with pytest.raises(ClientLimitExceeded) as info:
        await access.check_request("c")
    assert info.value.retry_after == 50 and info.value.limit == "requests_per_minute"
    await store.close()
    store = SqliteStore(tmp_path / "s.sqlite3", clock=clock)  # a restart: same file
    access = await limits(store, clock, requests_per_minute=2)
    with pytest.raises(ClientLimitExceeded):
        await access.check_request("c")
    clock.advance(50)  # the next minute: a fresh window
    await access.check_request("c")
    await access.check_request(None)  # no principal: no limits
    await store.close()


@pytest.mark.anyio
async def test_budget_refuses_once_spent_until_the_utc_day_ends() -> None:
    clock = FakeClock(start=86_400 * 500 + 3600)  # 01:00 UTC
    store = MemoryStore(clock=clock)
    access = await limits(store, clock, usd_per_day=0.01)
    headers = {"x-mcproute-client": "c"}
    await access.check_budget("c")
    await access.spend(headers, 0.006)
    await access.check_budget("c")  # under: the step that crosses the budget may run
    await access.spend(headers, 0.006)
    with pytest.raises(ClientLimitExceeded) as info:
        await access.check_budget("c")
    assert info.value.limit == "usd_per_day" and info.value.retry_after == 23 * 3600
    await access.check_tool_call("c", spends=False)  # plain tool calls are not spending
    with pytest.raises(ClientLimitExceeded):
        await access.check_tool_call("c", spends=True)
    clock.advance(23 * 3600)
    await access.check_budget("c")


@pytest.mark.anyio
async def test_stdio_client_policy_and_tool_call_limit_over_a_real_stdio_gateway(tmp_path: Path) -> None:
    config = config_dict(tmp_path / "data")
    config["clients"] = {
        "me": {"key": "${K}", "tools": {"deny": ["time__convert_time"]}, "limits": {"tool_calls_per_minute": 2}}
    }
    config["stdio_client"] = "me"
    path = tmp_path / "servers.yaml"
    path.write_text(json.dumps(config))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcproute", "serve", "--config", str(path)],
        env=child_env(PYTHONWARNINGS="ignore", K="k" * 32),
    )
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "time__get_current_time" in names and "time__convert_time" not in names
        with pytest.raises(MCPError) as hidden:
            await client.call_tool(
                "time__convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "UTC"}
            )
        assert "unknown tool" in hidden.value.error.message
        if 60 - time.time() % 60 < 10:  # the two calls and the refused third share one minute window
            await anyio.sleep(60 - time.time() % 60 + 0.1)
        for _ in range(2):  # the hidden tool's call above did not count
            assert not (await client.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error
        with pytest.raises(MCPError) as over:
            await client.call_tool("time__get_current_time", {"timezone": "UTC"})
        data = over.value.error.data
        assert over.value.error.code == -32029 and data["limit"] == "tool_calls_per_minute" and data["client"] == "me"
        assert 1 <= data["retry_after"] <= 60
