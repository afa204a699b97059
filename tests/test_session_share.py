"""Handshake-era sessions served by any replica: two whole gateways in one test process (each
with its own real fixture server over stdio and its own HTTP server on loopback) share one real
SQLite state file, as two replicas share a store. A session opened on one is served by the
other; what the client set there (log level) holds; an unknown id, another principal's request
and a DELETEd session get the SDK's 404 on both; and the SDK internals the revival relies on are
checked so an SDK upgrade that moves them fails here, loudly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from mcproute.access.keys import new_key
from mcproute.config import parse_config
from mcproute.config_clients import hash_key
from mcproute.gateway import Gateway
from mcproute.gateway._session_revive import check_sdk
from mcproute.gateway.serving import serve_http
from mcproute.gateway.upstream import Upstream
from mcproute.state import SqliteStore

pytestmark = pytest.mark.anyio
FIXTURE = str(Path(__file__).parent / "fixtures" / "gateway_fixture_server.py")
ALICE, BOB = new_key(), new_key()
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def config(clients: bool, max_sessions: int = 1000) -> str:
    keys = (
        f"clients:\n  alice: {{key_sha256: {hash_key(ALICE)}}}\n  bob: {{key_sha256: {hash_key(BOB)}}}\n"
        if clients
        else ""
    )
    return f"""
servers:
  fx: {{command: python, args: ["{FIXTURE}"], timeout: 10}}
gateway: {{http: {{max_sessions: {max_sessions}}}}}
{keys}"""


@asynccontextmanager
async def replicas(
    tmp_path: Path,
    n: int = 2,
    *,
    clients: bool = False,
    stores: list[SqliteStore] | None = None,
    max_sessions: int = 1000,
) -> AsyncIterator[list[str]]:
    """`n` gateways on loopback, each with its own store connection to one SQLite file (appended
    to `stores` if given)."""
    urls: list[str] = []
    async with AsyncExitStack() as stack:
        tg = await stack.enter_async_context(anyio.create_task_group())
        for _ in range(n):
            loaded = parse_config(config(clients, max_sessions))
            gw = await stack.enter_async_context(Gateway(loaded))
            store = await stack.enter_async_context(SqliteStore(tmp_path / "state.sqlite3"))
            if stores is not None:
                stores.append(store)
            up = Upstream(gw)
            up.session_store = store
            port = await tg.start(partial(serve_http, gw, loaded.config.gateway.http, port=0, upstream=up))
            urls.append(f"http://127.0.0.1:{port}/mcp")
        yield urls
        tg.cancel_scope.cancel()


def rpc(method: str, params: dict[str, Any] | None = None, id: int | None = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    if id is not None:
        body["id"] = id
    return body


def result_of(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, (r.status_code, r.text)
    text = r.text
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:") and line[5:].strip())
    message = json.loads(text)
    assert "result" in message, message
    return dict(message["result"])


async def open_session(c: httpx.AsyncClient, url: str, token: str | None = None) -> str:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {"sampling": {}},
        "clientInfo": {"name": "share-test", "version": "1"},
    }
    r = await c.post(url, json=rpc("initialize", init), headers=HEADERS | auth)
    assert result_of(r)["protocolVersion"] == "2025-06-18"
    sid = r.headers["mcp-session-id"]
    hs = HEADERS | auth | {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
    assert (await c.post(url, json=rpc("notifications/initialized", id=None), headers=hs)).status_code == 202
    return sid


def session_headers(sid: str, token: str | None = None) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return HEADERS | auth | {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}


async def call(c: httpx.AsyncClient, url: str, sid: str, tool: str, args: dict[str, Any], **kw: Any) -> httpx.Response:
    return await c.post(
        url, json=rpc("tools/call", {"name": tool, "arguments": args}, 7), headers=session_headers(sid, **kw)
    )


async def test_the_sdk_internals_the_revival_uses_are_there_and_a_missing_one_is_named() -> None:
    gw = Gateway(parse_config(config(False)))
    up = Upstream(gw)
    up.server.streamable_http_app(streamable_http_path="/mcp")
    manager: StreamableHTTPSessionManager = up.server.session_manager
    check_sdk(manager)  # passes on the installed SDK
    del manager._server_instances  # noqa: SLF001 - what an SDK that renamed it would look like
    with pytest.raises(RuntimeError, match=r"_server_instances .*_session_revive\.py"):
        check_sdk(manager)


async def test_a_session_opened_on_one_replica_is_served_by_the_other(tmp_path: Path) -> None:
    async with replicas(tmp_path) as (a, b), httpx.AsyncClient(timeout=30) as c:
        sid = await open_session(c, a)
        # The client's log level, set on A, holds on B: B's call to the fixture carries it.
        r = await c.post(a, json=rpc("logging/setLevel", {"level": "debug"}, 3), headers=session_headers(sid))
        assert result_of(r) == {}
        got = json.loads(result_of(await call(c, b, sid, "fx__whoami", {}))["content"][0]["text"])
        assert got["meta"].get("io.modelcontextprotocol/logLevel") == "debug", got
        for url in (a, b, b, a):
            assert result_of(await call(c, url, sid, "fx__echo", {"text": url}))["content"][0]["text"] == url
        listed = result_of(await c.post(b, json=rpc("tools/list", {}, 9), headers=session_headers(sid)))
        assert "fx__echo" in {t["name"] for t in listed["tools"]}
        # An id nobody opened is the SDK's 404 on both, as before.
        for url in (a, b):
            r = await call(c, url, "0" * 32, "fx__echo", {"text": "x"})
            assert r.status_code == 404 and "Session not found" in r.text
        # DELETE on B ends it everywhere: A's own copy answers 404 once it re-checks the record (1 s).
        assert (await c.delete(b, headers=session_headers(sid))).status_code == 200
        assert (await call(c, b, sid, "fx__echo", {"text": "x"})).status_code == 404
        await anyio.sleep(1.1)
        r = await call(c, a, sid, "fx__echo", {"text": "x"})
        assert r.status_code == 404 and "Session not found" in r.text
        async with SqliteStore(tmp_path / "state.sqlite3") as store:
            assert await store.load_session(sid) is None


async def test_another_principal_presenting_a_session_id_is_refused_on_every_replica(tmp_path: Path) -> None:
    async with replicas(tmp_path, clients=True) as (a, b), httpx.AsyncClient(timeout=30) as c:
        sid = await open_session(c, a, ALICE)
        for url in (b, a):  # B has never held it; A opened it
            r = await call(c, url, sid, "fx__echo", {"text": "x"}, token=BOB)
            assert r.status_code == 404 and "Session not found" in r.text, r.text
        # The rightful client is not disturbed, on either.
        for url in (b, a):
            assert (
                result_of(await call(c, url, sid, "fx__echo", {"text": "ok"}, token=ALICE))["content"][0]["text"]
                == "ok"
            )
        async with SqliteStore(tmp_path / "state.sqlite3") as store:
            rec = await store.load_session(sid)
        assert rec is not None and rec.principal == "alice" and rec.conversation_id == sid
        assert rec.client_params["clientInfo"] == {"name": "share-test", "version": "1"}


async def test_a_replica_whose_store_fails_keeps_serving_its_own_sessions(tmp_path: Path) -> None:
    stores: list[SqliteStore] = []
    async with replicas(tmp_path, stores=stores) as (a, b), httpx.AsyncClient(timeout=30) as c:
        shared = await open_session(c, a)
        await stores[0].close()  # A's store is gone (StateError on every use) from now on
        alone = await open_session(c, a)  # opened while it cannot be recorded: A still serves it
        await anyio.sleep(1.1)  # past the re-check interval: A tries the store, fails, keeps its copies
        for sid in (shared, alone):
            assert result_of(await call(c, a, sid, "fx__echo", {"text": "still"}))["content"][0]["text"] == "still"
        # B reads its own (working) store: the recorded session is served there, the other is not known.
        assert result_of(await call(c, b, shared, "fx__echo", {"text": "b"}))["content"][0]["text"] == "b"
        assert (await call(c, b, alone, "fx__echo", {"text": "b"})).status_code == 404


async def test_a_replica_at_its_session_cap_refuses_to_revive_one_more_as_the_sdk_refuses_to_open_one(
    tmp_path: Path,
) -> None:
    async with replicas(tmp_path, max_sessions=1) as (a, b), httpx.AsyncClient(timeout=30) as c:
        first, second = await open_session(c, a), await open_session(c, b)  # each replica now full
        r = await call(c, b, first, "fx__echo", {"text": "x"})
        assert r.status_code == 503 and "Too many open sessions" in r.text, r.text
        assert result_of(await call(c, b, second, "fx__echo", {"text": "b"}))["content"][0]["text"] == "b"
        assert (await c.delete(b, headers=session_headers(second))).status_code == 200
        assert result_of(await call(c, b, first, "fx__echo", {"text": "now"}))["content"][0]["text"] == "now"
