"""Resources, completion and logging levels through the gateway, over real loopback HTTP, with
the fixture server as a handshake-era and as a 2026-07-28 downstream, and clients of both eras."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from mcproute.config import parse_config
from mcproute.gateway import Gateway
from mcproute.gateway.serving import serve_http

FIXTURE = str(Path(__file__).parent / "fixtures" / "gateway_fixture_server.py")
DOWNSTREAM_ERAS = ["auto", "legacy"]  # auto negotiates 2026-07-28 with the SDK fixture
CLIENT_ERAS = ["auto", "legacy"]


def cfg(mode: str, *, prefix: bool = True, plain: bool = False) -> str:
    # `plain`: a second server without subscriptions, to prove errors name the server.
    other = f'  plain: {{command: python, args: ["{FIXTURE}"]}}' if plain else ""
    return f"""
reliability: {{backoff_base: 0.05, backoff_max: 0.2}}
gateway: {{prefix_tools: {str(prefix).lower()}}}
servers:
  fx: {{command: python, args: ["{FIXTURE}", "--resources"], timeout: 10, mode: {mode}}}
{other}
"""


@asynccontextmanager
async def running(text: str) -> AsyncIterator[tuple[Gateway, str]]:
    loaded = parse_config(text)
    async with Gateway(loaded) as gw, anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_http, gw, loaded.config.gateway.http, port=0))
        yield gw, f"http://127.0.0.1:{port}/mcp"
        tg.cancel_scope.cancel()


def first_text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@contextmanager
def handshake_only() -> Iterator[None]:
    # logging/setLevel and resources/subscribe are deprecated by 2026-07-28 (the client warns).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        yield


async def set_level(client: Client, level: str) -> None:
    with handshake_only():
        await client.set_logging_level(level)  # type: ignore[arg-type]


@pytest.mark.parametrize("ds_mode", DOWNSTREAM_ERAS)
@pytest.mark.anyio
async def test_completion_goes_to_the_owner_with_its_own_ref(ds_mode: str) -> None:
    async with running(cfg(ds_mode)) as (_, url), Client(url, mode="legacy") as client:
        assert client.server_capabilities.completions is not None
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        assert templates == ["fx+fixture://item/{id}"]
        done = await client.complete(
            types.ResourceTemplateReference(type="ref/resource", uri=templates[0]), {"name": "id", "value": "4"}
        )
        assert done.completion.values == ["4-1", "ref=fixture://item/{id}"]  # the downstream saw its own URI
        with pytest.raises(MCPError, match="unknown prompt 'fx__nope'"):
            await client.complete(types.PromptReference(type="ref/prompt", name="fx__nope"), {"name": "a", "value": ""})


@pytest.mark.parametrize("ds_mode", DOWNSTREAM_ERAS)
@pytest.mark.anyio
async def test_embedded_resource_uris_are_prefixed_and_read_back_and_raw_uris_resolve(ds_mode: str) -> None:
    async with running(cfg(ds_mode)) as (_, url), Client(url, mode="auto") as client:
        result = await client.call_tool("fx__embed", {})
        embedded, link = result.content
        assert isinstance(embedded, types.EmbeddedResource) and isinstance(link, types.ResourceLink)
        assert str(embedded.resource.uri) == "fx+fixture://watched" and str(link.uri) == "fx+fixture://item/7"
        for uri in (str(embedded.resource.uri), str(link.uri), "fixture://item/9"):  # the last one raw: one owner
            (content,) = (await client.read_resource(uri)).contents
            assert isinstance(content, types.TextResourceContents)
            assert content.text == f"content of {uri.removeprefix('fx+')}" and str(
                content.uri
            ) == "fx+" + uri.removeprefix("fx+")
        with pytest.raises(MCPError, match="unknown resource 'other://x': resource URIs look like <server>\\+<uri>"):
            await client.read_resource("other://x")


@pytest.mark.anyio
async def test_uris_pass_through_unchanged_without_prefixing() -> None:
    async with running(cfg("auto", prefix=False)) as (_, url), Client(url, mode="legacy") as client:
        assert [str(r.uri) for r in (await client.list_resources()).resources] == ["fixture://watched"]
        embedded = (await client.call_tool("embed", {})).content[0]
        assert isinstance(embedded, types.EmbeddedResource) and str(embedded.resource.uri) == "fixture://watched"
        (content,) = (await client.read_resource("fixture://watched")).contents
        assert str(content.uri) == "fixture://watched"


@pytest.mark.parametrize("client_mode", CLIENT_ERAS)
@pytest.mark.parametrize("ds_mode", DOWNSTREAM_ERAS)
@pytest.mark.anyio
async def test_resource_subscription_delivers_updates_with_the_clients_uri(ds_mode: str, client_mode: str) -> None:
    updated: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))

    async with (
        running(cfg(ds_mode, plain=True)) as (gw, url),
        Client(url, mode=client_mode, message_handler=on_message) as client,
    ):
        uri = "fx+fixture://watched"
        if client_mode == "legacy":
            with handshake_only():
                await client.subscribe_resource(uri)
            await client.call_tool("fx__touch", {})
            with anyio.fail_after(10):
                while not updated:
                    await anyio.sleep(0.02)
            assert updated[0] == uri
            with handshake_only():
                await client.unsubscribe_resource(uri)
            assert gw.downstreams["fx"].watch.uris == set()  # the last subscriber left: unsubscribed downstream
        else:
            async with client.listen(resource_subscriptions=[uri]) as sub:
                with anyio.fail_after(10):
                    while gw.downstreams["fx"].watch.uris != {"fixture://watched"}:
                        await anyio.sleep(0.02)
                    await anyio.sleep(0.3)  # the downstream stream is (re)opened asynchronously
                    await client.call_tool("fx__touch", {})
                    event = await sub.__anext__()
            assert getattr(event, "uri", None) == uri, event
        if client_mode == "legacy":
            # A server that offers no subscriptions: the error names it and its era.
            with (
                pytest.raises(MCPError, match=r"server 'plain' \(2026-07-28\) does not support resource subscriptions"),
                handshake_only(),
            ):
                await client.subscribe_resource("plain+fixture://watched")


@pytest.mark.parametrize("ds_mode", DOWNSTREAM_ERAS)
@pytest.mark.anyio
async def test_handshake_clients_log_level_is_applied_to_both_downstream_eras(ds_mode: str) -> None:
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with running(cfg(ds_mode)) as (_, url), Client(url, mode="legacy", logging_callback=on_log) as client:
        await set_level(client, "warning")
        if ds_mode == "legacy":  # forwarded to a handshake-era server that declares logging
            assert first_text(await client.call_tool("fx__level", {})) == "warning"
        await client.call_tool("fx__log", {"message": "below the level"})  # logs at info
        await set_level(client, "debug")
        await client.call_tool("fx__log", {"message": "wanted"})
        with anyio.fail_after(10):
            while not logs:
                await anyio.sleep(0.02)
        await anyio.sleep(0.2)
        assert [str(p.data) for p in logs] == ["wanted"], logs
