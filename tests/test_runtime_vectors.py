"""The engine's encoder: the gateway serves (and ranks lexically) before the encoder and the tool
vectors are ready; then every tool gets a vector, each step's text is encoded once, and a
catalogue change encodes only the tool that changed. Real tool servers, real SQLite cache."""

from __future__ import annotations

import json
import sys
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

from mcproute.config import parse_config
from mcproute.encoding import Encoder, model
from mcproute.gateway.identity import ConversationIdentity
from mcproute.gateway.serving import serve_http
from mcproute.gateway.upstream import Upstream
from mcproute.runtime import Engine
from mcproute.runtime.status import status_report
from runtime_support import EASY, FIXTURE, config_dict, loaded_config


def conv(cid: str) -> ConversationIdentity:
    return ConversationIdentity(cid, "argument")


async def settled(engine: Engine) -> None:
    """Tool vectors in and the tier examples attached: steps use vectors from then on."""
    with anyio.fail_after(60):
        await engine.wait_settled()


@asynccontextmanager
async def serving(engine: Engine, loaded: Any) -> AsyncIterator[str]:
    async with anyio.create_task_group() as tg:
        port = await tg.start(
            partial(serve_http, engine.gateway, loaded.config.gateway.http, port=0, upstream=Upstream(engine.gateway))
        )
        yield f"http://127.0.0.1:{port}/mcp"
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_the_gateway_serves_before_the_encoder_is_ready(tmp_path: Path, encoder: Encoder) -> None:
    loaded = loaded_config(tmp_path)
    # Hold the lock every engine's encoder load takes: the encoder stays "loading" until released.
    held = [model._SHARED_LOCK.acquire()]

    def release() -> None:
        if held.pop() if held else False:
            model._SHARED_LOCK.release()

    try:
        with anyio.fail_after(60):  # an engine that waited for its encoder would hang here, not pass
            async with Engine(loaded) as e, serving(e, loaded) as url:
                async with (
                    httpx2.AsyncClient() as http,
                    Client(streamable_http_client(url, http_client=http)) as client,
                ):
                    names = {t.name for t in (await client.list_tools()).tools}
                assert "time__get_current_time" in names
                decision = await e.route(EASY, identity=conv("early"))
                assert decision.tool is not None  # ranked lexically meanwhile
                report = status_report(e)["encoder"]
                assert report["state"] == "loading" and report["tools_with_vectors"] == 0 and e.index.vector_count == 0

                release()
                await settled(e)
                assert e.vectors.state == "ready" and e.index.vector_count == len(e.tool_map()) > 0
                text = "which timezone is Tokyo in, and what time is it there"
                assert e.vectors.encoder.cached(text) is None
                later = await e.route(text, identity=conv("later"))
                assert later.tool is not None and e.vectors.encoder.cached(text) is not None  # encoded for this step
                report = status_report(e)["encoder"]
                assert report["model_id"] == encoder.model_id and report["tools_with_vectors"] == report["tools"]
    finally:
        release()


@pytest.mark.anyio
async def test_a_catalogue_change_encodes_only_the_new_tool(tmp_path: Path) -> None:
    servers = {"fx": {"command": sys.executable, "args": [FIXTURE], "env": {"PYTHONWARNINGS": "ignore"}}}
    loaded = parse_config(json.dumps(config_dict(tmp_path, servers=servers)), environ={})
    async with Engine(loaded) as e:
        await settled(e)
        before = len(e.tool_map())
        assert e.index.vector_count == before
        await e.gateway.call_tool("fx__grow", {})  # adds a tool and announces list_changed
        with anyio.fail_after(30):
            while not (e.vectors.state == "ready" and e.index.vector_count == before + 1):
                await anyio.sleep(0.02)
        sync = e.vectors.last_sync
        # The new tool came from the model (or from the disk, if another test already grew one);
        # every other tool from this process's memory.
        assert sync["encoded"] + sync["from_disk"] == 1 and sync["from_memory"] == before


@pytest.mark.anyio
async def test_an_engine_without_its_encoder_runs_lexically_and_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-weights.zip"
    async with Engine(loaded_config(tmp_path, encoder={"weights": str(missing)})) as e:
        await settled(e)
        assert e.vectors.state == "unavailable" and str(missing) in e.vectors.reason
        decision = await e.route(EASY, identity=conv("lexical"))
        assert decision.tool is not None
        assert status_report(e)["encoder"]["reason"] == e.vectors.reason
    async with Engine(loaded_config(tmp_path, encoder={"enabled": False})) as e:
        assert e.vectors.state == "off" and e.vectors.encoder is None
        assert (await e.route(EASY, identity=conv("off"))).tool is not None


@pytest.mark.anyio
async def test_the_first_step_after_start_waits_briefly_for_the_encoder_and_its_examples(
    tmp_path: Path, encoder: Encoder
) -> None:
    # A short session (a one-shot client, an agent loop of a few fast steps) decides as a warm
    # gateway does: its first step waits (bounded by routing.encoder.step_wait) for the step vector
    # and the tier examples, which take ~0.4 s from the on-disk cache.
    async with Engine(loaded_config(tmp_path)) as e:
        decision = await e.route(EASY, identity=conv("first"))
        assert e.tier_examples_ready and "text.examples" in decision.signals, decision.reason


@pytest.mark.anyio
async def test_past_the_step_wait_a_step_scores_shape_only(tmp_path: Path, encoder: Encoder) -> None:
    held = [model._SHARED_LOCK.acquire()]  # the encoder stays "loading"
    try:
        async with Engine(loaded_config(tmp_path, encoder={"step_wait": 0.2})) as e:
            decision = await e.route(EASY, identity=conv("impatient"))
            assert e.vectors.state == "loading" and "text.examples" not in decision.signals
            assert "no step vector" in decision.reason
    finally:
        if held.pop():
            model._SHARED_LOCK.release()
