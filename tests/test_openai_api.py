"""The OpenAI-compatible endpoint with the official `openai` client, over real loopback HTTP.

The engine runs in this process (a real mcp-server-time downstream, real SQLite, scripted models
from tests/runtime_scripts.py) behind `serve_http`, so each test can read the conversation store
directly and show that a refused request left it untouched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest

from mcproute.config import parse_config
from mcproute.gateway.serving import serve_http
from mcproute.openai_api import openai_routes
from mcproute.openai_api.identity import fingerprint
from mcproute.providers import Message
from mcproute.runtime import Engine
from runtime_support import EASY, HARD, config_dict

SYSTEM = {"role": "system", "content": "You are a careful assistant."}


@asynccontextmanager
async def serving(tmp_path: Path, **http: Any) -> AsyncIterator[tuple[Engine, str]]:
    data = config_dict(tmp_path, step_down_after=3)
    data["gateway"]["http"] = {"max_request_bytes": 50_000, **http}
    # The offline demo models: they end a tool loop with a text answer once they see a tool result.
    data["models"]["quick"]["script"] = "mcproute.demo:fast"
    data["models"]["deep"]["script"] = "mcproute.demo:deep"
    loaded = parse_config(json.dumps(data), environ={})
    async with Engine(loaded) as engine, anyio.create_task_group() as tg:
        port = await tg.start(
            partial(serve_http, engine.gateway, loaded.config.gateway.http, port=0, extra_routes=openai_routes(engine))
        )
        yield engine, f"http://127.0.0.1:{port}/v1"
        tg.cancel_scope.cancel()


@asynccontextmanager
async def client(base_url: str, api_key: str = "unused") -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0) as c:
        yield c


async def ask(c: openai.AsyncOpenAI, messages: list[dict[str, Any]], **kw: Any) -> tuple[Any, Any]:
    raw = await c.chat.completions.with_raw_response.create(model=kw.pop("model", "auto"), messages=messages, **kw)  # type: ignore[arg-type]
    return raw.headers, raw.parse()


async def snapshot(engine: Engine) -> tuple[Any, ...]:
    store = engine.store
    assert store is not None
    convs = await store.list_conversations()
    return tuple(sorted((c.conversation_id, c) for c in convs))


@pytest.mark.anyio
async def test_three_turns_without_conversation_id_keep_their_tier_and_conversations_stay_apart(tmp_path: Path) -> None:
    async with serving(tmp_path) as (engine, url):
        async with client(url) as c:
            msgs: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": HARD}]
            seen = []
            for follow_up in ["thanks, and what time is it in UTC now?", "ok, once more please"]:
                headers, completion = await ask(c, msgs)
                seen.append(headers)
                assert completion.choices[0].message.content.startswith("reasoning model:")
                msgs += [
                    {"role": "assistant", "content": completion.choices[0].message.content},
                    {"role": "user", "content": follow_up},
                ]
            headers, _ = await ask(c, msgs)
            seen.append(headers)

            assert [h["x-mcproute-tier"] for h in seen] == ["reasoning"] * 3
            assert [h["x-mcproute-model"] for h in seen] == ["deep"] * 3
            cids = {h["x-mcproute-conversation-id"] for h in seen}
            assert len(cids) == 1 and {h["x-mcproute-conversation-source"] for h in seen} == {"fingerprint"}
            cid = cids.pop()
            assert cid == fingerprint([Message("system", SYSTEM["content"]), Message("user", HARD)])
            assert [h["x-mcproute-sticky"].split(":")[0] for h in seen[1:]] == ["held", "held"]
            assert len({h["x-mcproute-step-id"] for h in seen}) == 3
            assert seen[0]["x-mcproute-reason"]

            # Another conversation (same system prompt, a different opening question) starts fresh and stays fast.
            other = [SYSTEM, {"role": "user", "content": EASY}]
            h1, first = await ask(c, other)
            other += [
                {"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "and again"},
            ]
            h2, _ = await ask(c, other)
            assert h1["x-mcproute-conversation-id"] == h2["x-mcproute-conversation-id"] != cid
            assert (h1["x-mcproute-tier"], h2["x-mcproute-tier"]) == ("fast", "fast")

            store = engine.store
            assert store is not None
            a, b = await store.load(cid), await store.load(h1["x-mcproute-conversation-id"])
            assert a is not None and b is not None
            assert (a.step_count, a.tier) == (3, "reasoning") and (b.step_count, b.tier) == (2, "fast")
            assert not set(a.recent_texts) & set(b.recent_texts)

            # An explicit X-Conversation-Id wins over the fingerprint.
            h3, _ = await ask(
                c, [SYSTEM, {"role": "user", "content": HARD}], extra_headers={"X-Conversation-Id": "mine-1"}
            )
            assert (h3["x-mcproute-conversation-id"], h3["x-mcproute-conversation-source"]) == ("mine-1", "header")


@pytest.mark.anyio
async def test_tools_mcp_and_client_tools_come_back_in_openai_format(tmp_path: Path) -> None:
    async with serving(tmp_path) as (engine, url):
        async with client(url) as c:
            msgs: list[dict[str, Any]] = [{"role": "user", "content": "What is the current time in Europe/Paris?"}]
            headers, completion = await ask(c, msgs, extra_body={"tools": "mcp"})
            choice = completion.choices[0]
            assert choice.finish_reason == "tool_calls"
            call = choice.message.tool_calls[0]
            assert call.type == "function" and call.function.name.startswith("time__") and call.id
            assert isinstance(json.loads(call.function.arguments), dict)
            assert headers["x-mcproute-tool"].startswith("time__")
            # The catalogue's own tool name is callable on /mcp: run it there, send the result back.
            result = await engine.gateway.call_tool(call.function.name, json.loads(call.function.arguments))
            text = "".join(b["text"] for b in result["content"] if b.get("type") == "text")
            msgs += [
                choice.message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": text},
            ]
            headers2, final = await ask(c, msgs, extra_body={"tools": "mcp"})
            assert final.choices[0].finish_reason == "stop" and "the tool answered" in final.choices[0].message.content
            assert headers2["x-mcproute-conversation-id"] == headers["x-mcproute-conversation-id"]
            assert (
                final.usage.prompt_tokens > 0
                and final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens
            )

            # Client-provided tools pass through; the model's call comes back for the client to run.
            weather = {
                "type": "function",
                "function": {
                    "name": "lookup_weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                },
            }
            _, own = await ask(c, [{"role": "user", "content": "weather in Oslo?"}], tools=[weather])
            call = own.choices[0].message.tool_calls[0]
            assert call.function.name == "lookup_weather" and set(json.loads(call.function.arguments)) == {"city"}
            # tool_choice "none": no tools are offered, the model answers in words.
            _, none = await ask(
                c, [{"role": "user", "content": "weather in Rome?"}], tools=[weather], tool_choice="none"
            )
            assert none.choices[0].message.tool_calls is None and none.choices[0].finish_reason == "stop"


@pytest.mark.anyio
async def test_streaming_with_the_official_client(tmp_path: Path) -> None:
    async with serving(tmp_path) as (_, url):
        async with client(url) as c:
            text_msgs = [{"role": "user", "content": HARD}]
            _, whole = await ask(c, text_msgs, extra_headers={"X-Conversation-Id": "whole"})
            stream = await c.chat.completions.create(
                model="auto",
                messages=text_msgs,
                stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
                # no-cache: the model answers again (a reply-cache hit would replay it with zero usage).
                extra_headers={"X-Conversation-Id": "streamed", "Cache-Control": "no-cache"},
            )
            chunks = [ch async for ch in stream]
            text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
            # A scripted model cannot stream: its whole reply is one delta between the role and finish chunks
            # (provider streaming is tests/test_openai_streaming.py).
            assert text == whole.choices[0].message.content and len([ch for ch in chunks if ch.choices]) == 3
            assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
            assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
            assert {ch.model for ch in chunks} == {"deep"}

            raw = await c.chat.completions.with_raw_response.create(
                model="fast",
                messages=[{"role": "user", "content": "time in UTC?"}],
                stream=True,
                extra_body={"tools": "mcp"},
            )  # type: ignore[arg-type]
            assert raw.headers["x-mcproute-tier"] == "fast" and raw.headers["content-type"].startswith(
                "text/event-stream"
            )
            calls: dict[int, dict[str, str]] = {}
            finish = None
            async for ch in raw.parse():
                for tc in ch.choices[0].delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] += tc.id or ""
                    slot["name"] += (tc.function.name or "") if tc.function else ""
                    slot["arguments"] += (tc.function.arguments or "") if tc.function else ""
                finish = ch.choices[0].finish_reason or finish
            assert finish == "tool_calls" and calls[0]["name"].startswith("time__") and calls[0]["id"]
            assert isinstance(json.loads(calls[0]["arguments"]), dict)

            async with httpx.AsyncClient() as http:  # the wire itself: SSE frames ending in [DONE]
                r = await http.post(
                    f"{url}/chat/completions", json={"model": "auto", "stream": True, "messages": text_msgs}
                )
                frames = [f for f in r.text.split("\n\n") if f]
                assert all(f.startswith("data: ") for f in frames) and frames[-1] == "data: [DONE]"


@pytest.mark.anyio
async def test_models_list_and_named_models(tmp_path: Path) -> None:
    async with serving(tmp_path) as (_, url):
        async with client(url) as c:
            ids = [m.id async for m in c.models.list()]
            assert ids == ["auto", "reasoning", "fast", "quick", "deep"]
            h, _ = await ask(c, [{"role": "user", "content": HARD}], model="fast")
            assert (h["x-mcproute-tier"], h["x-mcproute-model"]) == ("fast", "quick")
            h, _ = await ask(c, [{"role": "user", "content": EASY}], model="deep")
            assert h["x-mcproute-model"] == "deep"


@pytest.mark.anyio
async def test_bad_input_gets_openai_errors_and_leaves_state_unchanged(tmp_path: Path) -> None:
    async with serving(tmp_path) as (engine, url):
        async with client(url) as c:
            start = [{"role": "user", "content": HARD}]
            await ask(c, start, extra_headers={"X-Conversation-Id": "bad-1"})
            before = await snapshot(engine)

            async def refused(kind: type[openai.APIStatusError], status: int, **kw: Any) -> dict[str, Any]:
                with pytest.raises(kind) as info:
                    await c.chat.completions.create(
                        model=kw.pop("model", "auto"), extra_headers={"X-Conversation-Id": "bad-1"}, **kw
                    )
                assert info.value.status_code == status
                body = info.value.body
                assert isinstance(body, dict) and set(body) == {
                    "message",
                    "type",
                    "param",
                    "code",
                }  # the client unwraps "error"
                return body

            err = await refused(openai.BadRequestError, 400, messages=[])
            assert err["param"] == "messages" and "at least one message" in err["message"]
            err = await refused(openai.NotFoundError, 404, messages=start, model="gpt-nope")
            assert err["code"] == "model_not_found" and "gpt-nope" in err["message"] and err["param"] == "model"
            ghost = [
                *start,
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "call_real",
                            "type": "function",
                            "function": {"name": "time__get_current_time", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_real", "content": "12:00"},
                {"role": "tool", "tool_call_id": "call_ghost", "content": "13:00"},
            ]
            err = await refused(openai.BadRequestError, 400, messages=ghost)
            assert (
                "call_ghost" in err["message"]
                and err["param"] == "messages[3].tool_call_id"
                and err["code"] == "unknown_tool_call_id"
            )
            err = await refused(openai.APIStatusError, 413, messages=[{"role": "user", "content": "x" * 60_000}])
            assert err["code"] == "request_too_large" and "50000" in err["message"]
            err = await refused(openai.BadRequestError, 400, messages=[{"role": "robot", "content": "hi"}])
            assert err["param"] == "messages[0].role"
            err = await refused(openai.BadRequestError, 400, messages=start, n=2)
            assert err["param"] == "n"
            with pytest.raises(openai.BadRequestError) as info:
                await c.chat.completions.create(
                    model="auto", messages=start, extra_headers={"X-Conversation-Id": "bad id!"}
                )  # type: ignore[arg-type]
            assert "X-Conversation-Id" in str(info.value)

            async with httpx.AsyncClient() as http:

                async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the endpoint itself counts
                    yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
                    for _ in range(7):
                        yield b"y" * 10_000
                    yield b'"}]}'

                r = await http.post(
                    f"{url}/chat/completions",
                    content=chunked(),
                    headers={"X-Conversation-Id": "bad-1", "content-type": "application/json"},
                )
                assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
                r = await http.post(
                    f"{url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
                )
                assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
                r = await http.post(f"{url}/chat/completions", json={"messages": start})
                assert r.status_code == 400 and r.json()["error"]["param"] == "model"
                r = await http.post(
                    f"{url}/chat/completions", json={"model": "auto", "messages": start, "tools": "everything"}
                )
                assert r.status_code == 400 and r.json()["error"]["param"] == "tools"

            assert await snapshot(engine) == before
            # ... and the conversation still works afterwards.
            h, _ = await ask(
                c,
                [*start, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}],
                extra_headers={"X-Conversation-Id": "bad-1"},
            )
            assert h["x-mcproute-tier"] == "reasoning" and h["x-mcproute-sticky"].startswith("held")


@pytest.mark.anyio
async def test_bearer_token_when_configured(tmp_path: Path) -> None:
    async with serving(tmp_path, token="s3cret-token") as (engine, url):
        before = await snapshot(engine)
        msgs = [{"role": "user", "content": EASY}]
        with pytest.raises(openai.AuthenticationError) as info:
            async with client(url, "wrong") as wrong:
                await wrong.chat.completions.create(model="auto", messages=msgs)  # type: ignore[arg-type]
        assert (
            info.value.status_code == 401
            and isinstance(info.value.body, dict)
            and info.value.body["code"] == "invalid_api_key"
        )
        async with httpx.AsyncClient() as http:
            for path, method in [("/chat/completions", "POST"), ("/models", "GET")]:
                r = await http.request(
                    method, url + path, json={"model": "auto", "messages": msgs} if method == "POST" else None
                )
                assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
                assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        assert await snapshot(engine) == before
        async with client(url, "s3cret-token") as c:
            headers, completion = await ask(c, msgs)
        assert headers["x-mcproute-tier"] == "fast" and completion.choices[0].message.content


@pytest.mark.anyio
async def test_each_request_is_one_traced_step_continuing_the_callers_trace(tmp_path: Path) -> None:
    from mcproute.telemetry import reader
    from mcproute.telemetry.setup import setup

    data = config_dict(tmp_path)
    data["models"]["quick"]["script"] = "mcproute.demo:fast"
    data["models"]["deep"]["script"] = "mcproute.demo:deep"
    data["telemetry"] = {"exporter": "jsonl"}
    loaded = parse_config(json.dumps(data), environ={})
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with setup(loaded.config.telemetry, loaded, environ={}):
        async with Engine(loaded) as engine, anyio.create_task_group() as tg:
            port = await tg.start(
                partial(
                    serve_http, engine.gateway, loaded.config.gateway.http, port=0, extra_routes=openai_routes(engine)
                )
            )
            async with client(f"http://127.0.0.1:{port}/v1") as c:
                msgs: list[dict[str, Any]] = [{"role": "user", "content": HARD}]
                h1, first = await ask(c, msgs, extra_headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})
                msgs += [
                    {"role": "assistant", "content": first.choices[0].message.content},
                    {"role": "user", "content": EASY},
                ]
                h2, _ = await ask(c, msgs)
            tg.cancel_scope.cancel()
    spans = reader.read_jsonl(tmp_path / "traces.jsonl")
    cid = h1["x-mcproute-conversation-id"]
    rows = reader.timeline(spans, cid)
    assert [r.step for r in rows] == [h1["x-mcproute-step-id"], h2["x-mcproute-step-id"]]
    assert [(r.model, r.tier) for r in rows] == [("deep", "reasoning"), ("deep", "reasoning")]
    routes = [s for s in spans if s.name == "mcproute.route"]
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert routes[0].trace_id == caller_trace  # the caller's traceparent header was continued
    assert all(s.conversation_id == cid for s in routes + chats)
    assert {c.parent_span_id for c in chats} <= {r.span_id for r in routes}  # chat spans sit under their step
    assert routes[1].links and routes[1].links[0]["span_id"] == routes[0].span_id  # step 2 links to step 1


def test_mcproute_serve_mounts_the_endpoint() -> None:
    # `mcproute serve --transport http` mounts /v1 through its extension list; the examples
    # (tests/test_examples.py::test_openai_loop_*) exercise it end to end in a real subprocess.
    from mcproute.cli.serve import EXTENSIONS

    assert "mcproute.openai_api" in EXTENSIONS, "add 'mcproute.openai_api' to EXTENSIONS in src/mcproute/cli/serve.py"
