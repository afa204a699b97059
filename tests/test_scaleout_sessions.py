"""Handshake-era sessions through a real nginx round-robin (no affinity, keep-alive off) over 3
`mcproute serve` replicas sharing one real redis-server, with two named clients (keys):

- the official MCP Python SDK client (handshake era, its GET stream beside its POSTs) makes 50
  `tools/call`s of `mcproute__run_step` in ONE session: all succeed, more than one replica served
  them, and the session's conversation routes exactly as the same 50 steps in a session held by
  one replica;
- the MCP Inspector CLI (a real third-party client) makes several `tools/call` runs, each an
  `initialize` and a call that nginx usually hands to two replicas;
- a session id opened by alice, presented by bob, is refused (404) by every replica;
- SIGKILL of the replica that answered `initialize`: the session's next calls succeed elsewhere.

Replicas are told apart by the `X-Upstream` header nginx adds to every response.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from interop.support import Peers, run_inspector
from mcproute.access.keys import new_key
from mcproute.config_clients import hash_key
from mcproute.state.redis_store import RedisStore
from redis_fixture import RedisServer
from test_scaleout_lb import TEXTS, Cluster, behind_nginx, decision

ALICE, BOB = new_key(), new_key()
CLIENTS = {"alice": {"key_sha256": hash_key(ALICE)}, "bob": {"key_sha256": hash_key(BOB)}}
STEPS = (TEXTS * 3)[:50]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Cluster]:
    with behind_nginx(tmp_path_factory.mktemp("keyed"), redis_server, clients=CLIENTS) as c:
        yield c


def pid_of(c: Cluster, upstream: str) -> int:
    replica = next(r for r in c.replicas if r.url.endswith(upstream.split(",")[-1].strip()))
    return int(status_with(replica.url, ALICE)["process"]["pid"])


def status_with(url: str, key: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/status", headers={"Authorization": f"Bearer {key}", "Connection": "close"}, timeout=10)
    r.raise_for_status()
    return dict(r.json())


class Session:
    """The official SDK client in the handshake era over `url`, recording who answered each POST."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.upstreams: list[tuple[str, str]] = []  # (JSON-RPC method or "", X-Upstream)

    async def run(self, body: Any) -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {self.key}"})

        async def seen(response: Any) -> None:
            if response.request.method == "POST":
                self.upstreams.append(
                    (response.request.content[:80].decode(errors="replace"), response.headers.get("x-upstream", ""))
                )

        http.event_hooks["response"].append(seen)
        async with http, Client(streamable_http_client(f"{self.url}/mcp", http_client=http), mode="legacy") as client:
            return await body(client)


async def run_steps(client: Any, texts: list[str]) -> list[dict[str, Any]]:
    out = []
    for text in texts:
        got = await client.call_tool("mcproute__run_step", {"text": text})
        assert not got.is_error, got
        out.append(got.structured_content)
    return out


def test_the_sdk_client_keeps_one_session_over_3_replicas_for_50_calls_sticky_as_on_one(keyed: Cluster) -> None:
    alone = Session(keyed.replicas[0].url, ALICE)
    spread = Session(keyed.lb.url, ALICE)
    one = anyio.run(alone.run, lambda c: run_steps(c, STEPS))
    many = anyio.run(spread.run, lambda c: run_steps(c, STEPS))
    assert len(many) == 50 and all(m["recorded"] for m in many)
    assert [decision(m) for m in many] == [decision(m) for m in one]
    assert {d[0] for d in map(decision, one)} == {"reasoning", "fast"} and any(d[3] for d in map(decision, one))
    # One conversation per session, each the session's own (derived from its id on every replica).
    assert len({m["decision"]["conversation_id"] for m in many}) == 1
    assert {m["decision"]["conversation_id"] for m in many} != {m["decision"]["conversation_id"] for m in one}
    served = {u for _, u in spread.upstreams if u}
    assert len(served) == 3, spread.upstreams  # round-robin spread the one session over all three
    cid = many[0]["decision"]["conversation_id"]

    async def stored() -> int:
        async with RedisStore(keyed.redis_url, prefix=keyed.prefix) as store:
            state = await store.load(cid)
            assert state is not None
            return state.step_count

    assert anyio.run(stored) == 50


def test_the_inspector_cli_calls_through_nginx_run_after_run(keyed: Cluster, tmp_path: Path) -> None:
    peers = Peers()
    assert peers.inspector.exists() and peers.node.exists(), "run scripts/install-peers.sh (make test does)"
    for _ in range(4):
        res = run_inspector(
            peers,
            tmp_path / "home",
            f"{keyed.lb.url}/mcp",
            "--transport",
            "http",
            "--protocol-era",
            "legacy",
            "--header",
            f"Authorization: Bearer {ALICE}",
            "--method",
            "tools/call",
            "--tool-name",
            "time__get_current_time",
            "--tool-arg",
            "timezone=UTC",
        )
        result = res.result
        assert not result.get("isError"), result
        assert '"timezone": "UTC"' in "".join(c.get("text", "") for c in result["content"]), result


def test_another_client_presenting_a_session_id_is_refused_by_every_replica(keyed: Cluster) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "a", "version": "1"}},
    }
    accept = {"Accept": "application/json, text/event-stream", "Connection": "close"}
    r = httpx.post(f"{keyed.lb.url}/mcp", json=init, headers=accept | {"Authorization": f"Bearer {ALICE}"}, timeout=30)
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    session = accept | {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
    for replica in keyed.replicas:  # each directly: the one that opened it and two that never held it
        r = httpx.post(
            f"{replica.url}/mcp", json=call, headers=session | {"Authorization": f"Bearer {BOB}"}, timeout=30
        )
        assert r.status_code == 404 and "Session not found" in r.text, (replica.url, r.status_code, r.text)
    for replica in keyed.replicas:  # alice's own requests are undisturbed on all of them
        r = httpx.post(
            f"{replica.url}/mcp", json=call, headers=session | {"Authorization": f"Bearer {ALICE}"}, timeout=30
        )
        assert r.status_code == 200 and "time__get_current_time" in r.text, (replica.url, r.text)


def test_sigkill_of_the_replica_that_opened_a_session_and_its_next_call_succeeds_elsewhere(keyed: Cluster) -> None:
    spread = Session(keyed.lb.url, ALICE)
    killed: list[str] = []

    async def body(client: Any) -> list[str]:
        texts = []
        for _ in range(3):
            got = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not got.is_error, got
        opener = next(u for m, u in spread.upstreams if '"initialize"' in m)
        os.kill(pid_of(keyed, opener), signal.SIGKILL)
        killed.append(opener)
        for _ in range(6):
            got = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not got.is_error, got
            texts.append(got.content[0].text)  # type: ignore[union-attr]
        return texts

    texts = anyio.run(spread.run, body)
    assert len(texts) == 6 and all("UTC" in t for t in texts)
    # Each call was answered by a survivor (nginx passes a refused connection on: "dead, live").
    answered = [u.split(",")[-1].strip() for _, u in spread.upstreams[-6:]]
    assert killed[0] not in answered and len(set(answered)) == 2, (killed, answered)
