"""The engine's per-step work stays proportionate: the tool map is built once per catalogue, the
pool is walked once per decision, a step reads its state in one store call, and the `expose:
search` view is bounded. Behaviour only (counts and identities), never timings."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from mcproute.config import parse_config
from mcproute.gateway.identity import ConversationIdentity
from mcproute.providers import ModelPool, http_client
from mcproute.providers.status import ModelStatus
from mcproute.runtime import Engine
from mcproute.runtime.engine import MAX_VISIBLE
from mcproute.runtime.expose import conversation_tools
from mcproute.state import SqliteStore
from runtime_support import EASY, FIXTURE, config_dict

T = TypeVar("T")


class CountingStore(SqliteStore):
    """The real SQLite store, counting its trips to the worker thread (one per `_run`)."""

    hops = 0

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self.hops += 1
        return await super()._run(fn)


class CountingPool(ModelPool):
    """The real pool, counting how often its status (every model's circuits) is walked."""

    walks = 0

    def status(self) -> list[ModelStatus]:
        self.walks += 1
        return super().status()


def conv(cid: str) -> ConversationIdentity:
    return ConversationIdentity(cid, "argument")


@asynccontextmanager
async def fixture_engine(tmp_path: Path, **kw: Any) -> AsyncIterator[tuple[Engine, CountingStore, CountingPool]]:
    servers = {"fx": {"command": sys.executable, "args": [FIXTURE], "env": {"PYTHONWARNINGS": "ignore"}}}
    loaded = parse_config(json.dumps(config_dict(tmp_path, servers=servers, **kw)), environ={})
    store = CountingStore(tmp_path / "state.sqlite3", max_conversations=loaded.config.state.max_conversations)
    try:
        async with http_client() as client:
            pool = CountingPool(loaded, client)
            async with Engine(loaded, store=store, pool=pool) as engine:
                yield engine, store, pool
    finally:
        await store.close()


@pytest.mark.anyio
async def test_tool_map_is_built_once_per_catalogue_and_follows_a_change(tmp_path: Path) -> None:
    async with fixture_engine(tmp_path) as (e, _, _):
        first = e.tool_map()
        assert "fx__echo" in first and not any(name.startswith("mcproute__") for name in first)
        await e.route(EASY, identity=conv("a"))
        await e.run_step("echo back the text hello", identity=conv("a"))
        assert e.tool_map() is first  # reused across steps while the catalogue is unchanged
        # The server grows a tool and announces list_changed: the gateway builds a new catalogue.
        await e.gateway.call_tool("fx__grow", {})
        with anyio.fail_after(30):
            while "fx__grown_1" not in e.gateway.catalog.tools:
                await anyio.sleep(0.02)
        grown = e.tool_map()  # seen at once, even before the change listener re-indexes
        assert grown is not first and "fx__grown_1" in grown and set(first) < set(grown)
        assert e.tool_map() is grown


@pytest.mark.anyio
async def test_one_pool_walk_per_decision_and_one_store_read_per_step(tmp_path: Path) -> None:
    async with fixture_engine(tmp_path) as (e, store, pool):
        await e.run_step("echo back the text hello", identity=conv("c"))  # the conversation now has a last step

        walks, hops = pool.walks, store.hops
        decision = await e.route("echo back the text hello", identity=conv("c"))  # dry run: read and decide
        assert pool.walks - walks == 1 and store.hops - hops == 1
        assert decision.model is not None and decision.deployment in next(
            m.deployments for m in e.model_specs() if m.name == decision.model
        )

        walks, hops = pool.walks, store.hops
        step = await e.run_step("echo back the text hello", identity=conv("c"))
        assert step.tool == "fx__echo" and not step.is_error
        assert pool.walks - walks == 1  # models and unhealthy deployments from one status walk
        assert store.hops - hops == 2  # state + previous step's record in one read, then record_step
        state = await store.load("c")
        assert state is not None and state.step_count == 2 and state.last_step_id == step.step_id

        # Without `expose: search` no per-conversation view is kept at all.
        assert len(e.visible) == 0


@pytest.mark.anyio
async def test_expose_search_view_is_bounded_by_the_store_size(tmp_path: Path) -> None:
    cap = 3
    assert cap < MAX_VISIBLE
    async with fixture_engine(tmp_path, expose="search") as (e, _, _):
        assert e.visible.size == min(MAX_VISIBLE, e.config.state.max_conversations)
    async with fixture_engine(tmp_path / "small", expose="search") as (e, store, _):
        e.visible.size = cap  # as state.max_conversations = 3 would set it; the store keeps 100,000 here
        for i in range(5):
            await e.run_step("echo back the text hello", identity=conv(f"c{i}"))
        assert list(e.visible) == ["c2", "c3", "c4"]  # least recently routed evicted first
        assert await conversation_tools(e, "c4") == e.visible.get("c4")
        # An evicted conversation still lists what it used, from its stored state.
        assert await conversation_tools(e, "c0") == ("fx__echo",)


@pytest.mark.anyio
async def test_max_conversations_caps_the_visible_map(tmp_path: Path) -> None:
    loaded = parse_config(
        json.dumps({**config_dict(tmp_path, expose="search"), "state": {"backend": "memory", "max_conversations": 2}}),
        environ={},
    )
    assert Engine(loaded).visible.size == 2
    assert Engine(parse_config(json.dumps(config_dict(tmp_path)), environ={})).visible.size == 0  # expose: all
