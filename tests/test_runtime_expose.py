"""`gateway.expose: search` over real loopback HTTP, both eras: a client lists only the meta-tools
plus its conversation's current top-k, and hears `tools/list_changed` when that set moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcproute.gateway.serving import serve_http
from mcproute.gateway.upstream import Upstream
from mcproute.runtime import Engine
from mcproute.runtime.metatools import META_TOOL_NAMES
from runtime_support import loaded_config

ERAS = ["auto", "legacy"]


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Engine, str]]:
    loaded = loaded_config(tmp_path, expose="search")
    async with Engine(loaded) as engine, anyio.create_task_group() as tg:
        port = await tg.start(
            partial(serve_http, engine.gateway, loaded.config.gateway.http, port=0, upstream=Upstream(engine.gateway))
        )
        yield engine, f"http://127.0.0.1:{port}/mcp"
        tg.cancel_scope.cancel()


@asynccontextmanager
async def client(url: str, conversation: str, mode: str, **kw: Any) -> AsyncIterator[Client]:
    # A transport given its own http client leaves closing that client to the caller.
    async with httpx2.AsyncClient(headers={"X-Conversation-Id": conversation}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, **kw) as c:
            yield c


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.anyio
async def test_expose_search_lists_meta_tools_plus_the_conversations_top_k(tmp_path: Path, mode: str) -> None:
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if (
            "ToolListChanged" in type(message).__name__
            or getattr(getattr(message, "root", None), "method", "") == "notifications/tools/list_changed"
        ):
            changed.set()

    async with serving(tmp_path) as (engine, url):
        extra = {"message_handler": on_message} if mode == "legacy" else {}
        async with client(url, f"exp-{mode}", mode, **extra) as c, client(url, f"other-{mode}", mode) as other:
            names = [t.name for t in (await c.list_tools()).tools]
            assert names == list(META_TOOL_NAMES)  # nothing chosen yet: only the meta-tools
            found = await c.call_tool("mcproute__search_tools", {"query": "convert a time between timezones"})
            assert not found.is_error
            if mode == "legacy":
                with anyio.fail_after(10):
                    await changed.wait()
            names = [t.name for t in (await c.list_tools()).tools]
            assert (
                names[:4] == list(META_TOOL_NAMES)
                and names[4] == "time__convert_time"
                and "time__get_current_time" in names
            )
            # Another conversation's view did not move.
            assert [t.name for t in (await other.list_tools()).tools] == list(META_TOOL_NAMES)
            # The list is a view, not a permission.
            direct = await other.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not direct.is_error
