"""Issue 15, item 6: `stream: true` on `/v1/chat/completions` passes provider deltas on as they
arrive, for both provider wires, with usage, cost and time-to-first-chunk recorded at the end.

Real parts: the gateway over loopback HTTP (uvicorn), the fault-injecting fake OpenAI-wire and
Anthropic-wire providers (tests/fakes, also over loopback HTTP) streaming word by word, the
official `openai` client, real SQLite, and the JSONL span exporter read back from disk. The fake
holds its last word behind a gate the test opens, so "the client has chunks before the provider
finished" is observed, not inferred from timing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
import httpx
import openai
import pytest

from fakes.llm_server import FakeLLM, fake_llm, streamed
from mcproute.config import parse_config
from mcproute.gateway.serving import serve_http
from mcproute.openai_api import openai_routes
from mcproute.runtime import Engine
from mcproute.telemetry import reader
from mcproute.telemetry.setup import setup
from runtime_support import config_dict

pytestmark = pytest.mark.anyio
TEXT = "It is noon in Paris and the sun is out today"
PRICES = {"quick": {"input": 0.5, "output": 2.0}, "deep": {"input": 3.0, "output": 15.0}}


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Engine, FakeLLM, str]]:
    """fast = an OpenAI-wire model, reasoning = an Anthropic-wire model, both on the fake."""
    async with fake_llm() as fake:
        data = config_dict(tmp_path)
        data["models"] = {
            "quick": {
                "tier": "fast",
                "provider": "openai",
                "model": "gpt-fake-mini",
                "base_url": fake.openai_url,
                "api_key": "sk-fake-quick",
                "price": PRICES["quick"],
            },
            "deep": {
                "tier": "reasoning",
                "provider": "anthropic",
                "model": "claude-fake",
                "base_url": fake.anthropic_url,
                "api_key": "sk-ant-fake",
                "price": PRICES["deep"],
            },
        }
        data["telemetry"] = {"exporter": "jsonl"}
        # These tests repeat one request to see each provider behaviour in turn; the reply cache
        # would answer the repeats (its streamed hits are tested in tests/test_cache.py).
        data["cache"] = {"enabled": False}
        loaded = parse_config(json.dumps(data), environ={})
        with setup(loaded.config.telemetry, loaded, environ={}):
            async with Engine(loaded) as engine, anyio.create_task_group() as tg:
                port = await tg.start(
                    partial(
                        serve_http,
                        engine.gateway,
                        loaded.config.gateway.http,
                        port=0,
                        extra_routes=openai_routes(engine),
                    )
                )
                yield engine, fake, f"http://127.0.0.1:{port}/v1"
                tg.cancel_scope.cancel()


def _data_lines(body: str) -> list[str]:
    return [line[6:] for line in body.split("\n") if line.startswith("data: ")]


@pytest.mark.parametrize(("tier", "path"), [("fast", "/v1/chat/completions"), ("reasoning", "/v1/messages")])
async def test_chunks_reach_the_client_before_the_provider_finishes(tmp_path: Path, tier: str, path: str) -> None:
    gate = anyio.Event()
    async with serving(tmp_path) as (_, fake, url):
        fake.queue(streamed(TEXT, gate=gate, usage={"input": 40, "output": 11, "cached_input": 0}))
        received: list[str] = []
        async with (
            httpx.AsyncClient(timeout=10) as http,
            http.stream(
                "POST",
                f"{url}/chat/completions",
                json={
                    "model": tier,
                    "stream": True,
                    "messages": [{"role": "user", "content": "time in Paris?"}],
                    "stream_options": {"include_usage": True},
                },
            ) as r,
        ):
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-mcproute-tier"] == tier
            lines = r.aiter_lines()
            while len([x for x in received if '"content"' in x]) < 4:  # role chunk + 3 words
                line = await anext(lines)
                if line.startswith("data: "):
                    received.append(line[6:])
            # The provider is still holding its last word: these arrived while it was unfinished.
            assert not gate.is_set() and fake.requests[-1].path == path
            gate.set()
            received += [line[6:] async for line in lines if line.startswith("data: ")]
    assert received[-1] == "[DONE]"
    chunks = [json.loads(x) for x in received[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == TEXT
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) == len(TEXT.split(" "))
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["prompt_tokens"] == 40 and chunks[-1]["usage"]["completion_tokens"] == 11
    sent = fake.requests[-1].body
    assert sent["stream"] is True
    if path == "/v1/chat/completions":
        assert sent["stream_options"] == {"include_usage": True}  # asked so the cost can be computed


async def test_usage_cost_and_first_chunk_latency_are_on_the_spans(tmp_path: Path) -> None:
    async with serving(tmp_path) as (_, fake, url):
        fake.queue(
            streamed(TEXT, piece_delay=0.02, usage={"input": 1000, "output": 200, "cached_input": 0}),
            streamed(TEXT, usage={"input": 2000, "output": 100, "cached_input": 500}),
        )
        async with openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0) as client:
            for tier in ("fast", "reasoning"):
                stream = await client.chat.completions.create(
                    model=tier,
                    messages=[{"role": "user", "content": "time in Paris?"}],
                    stream=True,
                    extra_headers={"X-Conversation-Id": f"live-{tier}"},
                )
                parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                assert "".join(parts) == TEXT
    spans = reader.read_jsonl(tmp_path / "traces.jsonl")
    chats = {s.attributes["mcproute.decision.model"]: s for s in spans if s.name.startswith("chat ")}
    routes = {s.attributes["gen_ai.conversation.id"]: s for s in spans if s.name == "mcproute.route"}
    quick, deep = chats["quick"], chats["deep"]
    assert (quick.attributes["gen_ai.usage.input_tokens"], quick.attributes["gen_ai.usage.output_tokens"]) == (
        1000,
        200,
    )
    assert quick.attributes["mcproute.cost.usd"] == pytest.approx((1000 * 0.5 + 200 * 2.0) / 1e6)
    # Anthropic: input = uncached + cache reads; cache reads are priced as input here (no cached price set).
    assert (deep.attributes["gen_ai.usage.input_tokens"], deep.attributes["gen_ai.usage.output_tokens"]) == (2000, 100)
    assert deep.attributes["mcproute.cost.usd"] == pytest.approx((2000 * 3.0 + 100 * 15.0) / 1e6)
    for chat in (quick, deep):
        ttfc = chat.attributes["gen_ai.response.time_to_first_chunk"]
        assert 0 < ttfc <= (chat.end_ns - chat.start_ns) / 1e9
    # With 10 words 20 ms apart, the first chunk came well before the whole reply.
    assert quick.attributes["gen_ai.response.time_to_first_chunk"] < (quick.end_ns - quick.start_ns) / 1e9
    assert routes["live-fast"].attributes["mcproute.cost.usd"] == quick.attributes["mcproute.cost.usd"]
    assert "gen_ai.response.time_to_first_chunk" in routes["live-reasoning"].attributes


async def test_tool_call_streams_in_pieces_and_the_official_client_assembles_it(tmp_path: Path) -> None:
    call = ({"id": "call_1", "name": "city_time", "arguments": {"city": "Paris"}},)
    tool = {
        "type": "function",
        "function": {"name": "city_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
    async with serving(tmp_path) as (_, fake, url):
        fake.queue(streamed("", tool_calls=call), streamed("", tool_calls=call))
        async with openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0) as client:
            for tier in ("fast", "reasoning"):
                async with client.chat.completions.stream(
                    model=tier, messages=[{"role": "user", "content": "time in Paris?"}], tools=[tool]
                ) as s:  # type: ignore[list-item]
                    final = await s.get_final_completion()
                msg = final.choices[0].message
                assert final.choices[0].finish_reason == "tool_calls"
                assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls or []] == [
                    ("call_1", "city_time", {"city": "Paris"})
                ]


@pytest.mark.parametrize("tier", ["fast", "reasoning"])
async def test_a_provider_failing_mid_stream_ends_it_with_an_error_event(tmp_path: Path, tier: str) -> None:
    async with serving(tmp_path) as (_, fake, url):
        fake.queue(streamed(TEXT, fail_after=3))
        async with httpx.AsyncClient(timeout=10) as http:
            with anyio.fail_after(10):  # no hang
                r = await http.post(
                    f"{url}/chat/completions",
                    json={"model": tier, "stream": True, "messages": [{"role": "user", "content": "time in Paris?"}]},
                )
            assert r.status_code == 200  # the status line went out with the first chunk
            data = _data_lines(r.text)
            assert "[DONE]" not in data
            words = "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for d in data[:-1])
            assert words == " ".join(TEXT.split(" ")[:3])  # what arrived before the failure was passed on
            error = json.loads(data[-1])["error"]
            assert error["code"] == "stream_interrupted" and "after it began streaming" in error["message"]
            # Not retried after the first chunk: the provider saw one request.
            assert len(fake.requests) == 1
            # The gateway is fine afterwards, and the official client raises the error event.
            fake.queue(streamed(TEXT, fail_after=1))
            async with openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0) as client:
                stream = await client.chat.completions.create(
                    model=tier, messages=[{"role": "user", "content": "again"}], stream=True
                )
                with pytest.raises(openai.APIError, match="after it began streaming"):
                    async for _ in stream:
                        pass
                again = await client.chat.completions.create(
                    model=tier, messages=[{"role": "user", "content": "and again"}]
                )
                assert again.choices[0].message.content == "Hello."


async def test_failures_before_the_first_chunk_fall_back_and_keep_real_status_codes(tmp_path: Path) -> None:
    from fakes.llm_server import bad_request, server_error

    async with serving(tmp_path) as (_, fake, url):
        # A 500 before anything was streamed: retried on the same deployment, the client never knows.
        fake.queue(server_error(), streamed(TEXT))
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(
                f"{url}/chat/completions",
                json={"model": "fast", "stream": True, "messages": [{"role": "user", "content": "time?"}]},
            )
            assert r.status_code == 200 and _data_lines(r.text)[-1] == "[DONE]"
            assert len(fake.requests) == 2
            # A refused request is not retried and answers with its status, not a 200 stream.
            fake.queue(bad_request())
            r = await http.post(
                f"{url}/chat/completions",
                json={"model": "fast", "stream": True, "messages": [{"role": "user", "content": "time?"}]},
            )
            assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
            assert r.json()["error"]["code"] == "provider_rejected"


async def test_a_client_leaving_mid_stream_leaves_the_conversation_usable(tmp_path: Path) -> None:
    gate = anyio.Event()
    body = {"model": "fast", "stream": True, "messages": [{"role": "user", "content": "time in Paris?"}]}
    conv = {"X-Conversation-Id": "leaver"}
    async with serving(tmp_path) as (_, fake, url):
        fake.queue(streamed(TEXT, gate=gate))
        async with httpx.AsyncClient(timeout=10) as http:
            async with http.stream("POST", f"{url}/chat/completions", json=body, headers=conv) as r:
                lines = r.aiter_lines()
                while '"content":"It"' not in await anext(lines):
                    pass
            gate.set()  # the provider finishes after the client has gone
            with anyio.fail_after(10):  # the conversation's lock was released: the next step does not wait forever
                r = await http.post(f"{url}/chat/completions", json={**body, "stream": False}, headers=conv)
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Hello."


async def test_responses_api_streams_as_the_provider_sends(tmp_path: Path) -> None:
    gate = anyio.Event()
    async with serving(tmp_path) as (_, fake, url):
        fake.queue(streamed(TEXT, gate=gate), streamed(TEXT, fail_after=2))
        async with openai.AsyncOpenAI(
            base_url=url, api_key="unused", max_retries=0, _strict_response_validation=True
        ) as client:
            stream = await client.responses.create(model="reasoning", input="time in Paris?", stream=True)
            types: list[str] = []
            async for event in stream:
                types.append(event.type)
                if types.count("response.output_text.delta") == 3:
                    assert not gate.is_set()  # three words out while the provider holds the last one
                    gate.set()
                if event.type == "response.completed":
                    final = event.response
            assert final.output_text == TEXT and types.count("response.output_text.delta") == len(TEXT.split(" "))
            assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
            broken = await client.responses.create(model="fast", input="again", stream=True)
            seen = [e async for e in broken]
            assert seen[-1].type == "error" and "after it began streaming" in seen[-1].message  # type: ignore[union-attr]
            assert [e.type for e in seen].count("response.output_text.delta") == 2
