"""Issue 15, item 5: `POST /v1/responses` and OpenAI-shaped errors on every unknown `/v1` path.

Real parts: openai-agents' default model path (`Agent(model="auto")`, `OpenAIResponsesModel`) and
the official `openai` client with strict response validation, over loopback HTTP, against an engine
whose two models are OpenAI-wire providers served by the fault-injecting fake (tests/fakes), also
over loopback HTTP. The fake records each chat-completions request the gateway made, so the tests
see the Responses ↔ chat-completions translation from both sides.
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
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from fakes.llm_server import FakeLLM, fake_llm, ok
from mcproute.config import parse_config
from mcproute.gateway.serving import serve_http
from mcproute.openai_api import openai_routes
from mcproute.runtime import Engine
from runtime_support import HARD, config_dict

pytestmark = pytest.mark.anyio
TIME_CALL = ({"id": "call_paris", "name": "city_time", "arguments": {"city": "Paris"}},)
CITY_TOOL = {
    "type": "function",
    "name": "city_time",
    "description": "The current time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": False,
}


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Engine, FakeLLM, str]]:
    async with fake_llm() as fake:
        data = config_dict(tmp_path)
        data["models"] = {
            "quick": {
                "tier": "fast",
                "provider": "openai",
                "model": "gpt-fake-mini",
                "base_url": fake.openai_url,
                "api_key": "sk-fake-quick",
                "price": {"input": 0.1, "output": 0.4},
            },
            "deep": {
                "tier": "reasoning",
                "provider": "openai",
                "model": "gpt-fake-large",
                "base_url": fake.openai_url,
                "api_key": "sk-fake-deep",
                "price": {"input": 3.0, "output": 15.0},
            },
        }
        # The tests compare what the fake provider received for each request, repeats included;
        # the reply cache would answer a repeat itself (tests/test_cache.py).
        data["cache"] = {"enabled": False}
        loaded = parse_config(json.dumps(data), environ={})
        async with Engine(loaded) as engine, anyio.create_task_group() as tg:
            port = await tg.start(
                partial(
                    serve_http, engine.gateway, loaded.config.gateway.http, port=0, extra_routes=openai_routes(engine)
                )
            )
            yield engine, fake, f"http://127.0.0.1:{port}/v1"
            tg.cancel_scope.cancel()


def strict_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, _strict_response_validation=True)


def _agent_and_config(client: openai.AsyncOpenAI, seen: list[str]) -> tuple[Any, Any]:
    from agents import Agent, RunConfig, function_tool
    from agents.models.openai_provider import OpenAIProvider
    from agents.models.openai_responses import OpenAIResponsesModel

    @function_tool
    def city_time(city: str) -> str:
        """The current time in a city."""
        seen.append(city)
        return f"12:00 in {city}"

    provider = OpenAIProvider(openai_client=client)  # the defaults: nothing says "responses"
    assert isinstance(provider.get_model("auto"), OpenAIResponsesModel)
    agent = Agent(
        name="clock", instructions="Use the tool, then answer in one sentence.", model="auto", tools=[city_time]
    )
    return agent, RunConfig(model_provider=provider, tracing_disabled=True)


def _sent_to_provider(fake: FakeLLM) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests if r.path == "/v1/chat/completions"]


@pytest.mark.parametrize("streamed", [False, True])
async def test_openai_agents_default_model_runs_a_tool_loop_against_v1_responses(
    tmp_path: Path, streamed: bool
) -> None:
    from agents import Runner

    async with serving(tmp_path) as (_, fake, url), strict_client(url) as client:
        fake.queue(ok("", tool_calls=TIME_CALL), ok("It is noon in Paris."))
        seen: list[str] = []
        agent, run_config = _agent_and_config(client, seen)
        if streamed:
            run = Runner.run_streamed(agent, "What time is it in Paris?", run_config=run_config)
            kinds = [e.data.type async for e in run.stream_events() if e.type == "raw_response_event"]
            assert kinds.count("response.completed") == 2 and "response.function_call_arguments.delta" in kinds
            assert "response.output_text.delta" in kinds
            final = run.final_output
        else:
            final = (await Runner.run(agent, "What time is it in Paris?", run_config=run_config)).final_output
    assert final == "It is noon in Paris."
    assert seen == ["Paris"]  # the agent ran the tool call that came back as a function_call item
    first, second = _sent_to_provider(fake)
    assert first["messages"][0] == {"role": "system", "content": "Use the tool, then answer in one sentence."}
    assert first["messages"][1]["role"] == "user" and "Paris" in json.dumps(first["messages"][1])
    assert [t["function"]["name"] for t in first["tools"]] == ["city_time"]
    # Turn two: the function_call + function_call_output items became an assistant tool call and a tool message.
    assistant, tool = second["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == "call_paris"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_paris" and "12:00 in Paris" in json.dumps(tool)


async def test_non_streamed_reply_is_a_valid_response_object_routed_like_chat_completions(tmp_path: Path) -> None:
    async with serving(tmp_path) as (engine, fake, url), strict_client(url) as client:
        fake.queue(ok("Fine.", usage={"input": 40, "output": 3, "cached_input": 8}), ok("", tool_calls=TIME_CALL))
        raw = await client.responses.with_raw_response.create(
            model="reasoning", input="hello", instructions="Be brief."
        )
        reply = raw.parse()  # strict validation: every required field is there with the right type
        assert (reply.status, reply.output_text, reply.model) == ("completed", "Fine.", "deep")
        assert raw.headers["x-mcproute-tier"] == "reasoning" and raw.headers["x-mcproute-model"] == "deep"
        assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (40, 3)
        assert reply.usage.input_tokens_details.cached_tokens == 8
        assert _sent_to_provider(fake)[0]["model"] == "gpt-fake-large"

        raw = await client.responses.with_raw_response.create(
            model="fast",
            tools=[CITY_TOOL],  # type: ignore[list-item]
            input=[{"role": "user", "content": [{"type": "input_text", "text": "time in Paris?"}]}],
        )
        reply = raw.parse()
        assert raw.headers["x-mcproute-tier"] == "fast" and _sent_to_provider(fake)[1]["model"] == "gpt-fake-mini"
        (call,) = reply.output
        assert call.type == "function_call" and (call.call_id, call.name) == ("call_paris", "city_time")
        assert json.loads(call.arguments) == {"city": "Paris"}
        assert reply.tools[0].type == "function" and reply.tools[0].name == "city_time"

        # A configured model's name asks for that model.
        fake.queue(ok("From quick."))
        raw = await client.responses.with_raw_response.create(model="quick", input="hello again")
        assert (raw.headers["x-mcproute-model"], raw.parse().output_text) == ("quick", "From quick.")
        assert _sent_to_provider(fake)[2]["model"] == "gpt-fake-mini"

        # model "auto": the router decides, and a hard question goes to the reasoning tier as on /chat/completions.
        raw = await client.responses.with_raw_response.create(model="auto", input=HARD)
        assert raw.headers["x-mcproute-tier"] == "reasoning" and raw.parse().model == "deep"
        assert raw.headers["x-mcproute-reason"]
        assert engine.store is not None


async def test_streamed_reply_is_openais_event_sequence_on_the_wire(tmp_path: Path) -> None:
    text = "The quick brown fox jumps over the lazy dog, then rests in the shade of a tall tree for a while."
    async with serving(tmp_path) as (_, fake, url), httpx.AsyncClient(timeout=30) as http:
        fake.queue(ok(text), ok("Checking.", tool_calls=TIME_CALL))
        adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
        streams = []
        for body in (
            {"model": "fast", "input": "tell me about a fox", "stream": True},
            {"model": "fast", "input": "time in Paris?", "stream": True, "tools": [CITY_TOOL]},
        ):
            r = await http.post(f"{url}/responses", json=body)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-mcproute-model"] == "quick"
            events = []
            for frame in r.text.split("\n\n"):
                if not frame:
                    continue
                name_line, data_line = frame.split("\n")
                event = json.loads(data_line.removeprefix("data: "))
                assert name_line == f"event: {event['type']}"
                events.append(event)
                adapter.validate_python(event)  # each one parses as the SDK's typed event
            assert [e["sequence_number"] for e in events] == list(range(len(events)))
            assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
            assert events[-1]["type"] == "response.completed" and events[-1]["response"]["status"] == "completed"
            streams.append(events)

        text_events = streams[0]
        deltas = [e["delta"] for e in text_events if e["type"] == "response.output_text.delta"]
        assert len(deltas) > 1 and "".join(deltas) == text
        kinds = [e["type"] for e in text_events]
        assert kinds[2:5] == ["response.output_item.added", "response.content_part.added", "response.output_text.delta"]
        assert kinds[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
        assert text_events[-1]["response"]["output"][0]["content"][0]["text"] == text

        call_events = streams[1]
        done_items = [e["item"] for e in call_events if e["type"] == "response.output_item.done"]
        assert [i["type"] for i in done_items] == ["message", "function_call"]
        args = "".join(e["delta"] for e in call_events if e["type"] == "response.function_call_arguments.delta")
        assert json.loads(args) == {"city": "Paris"} and done_items[1]["call_id"] == "call_paris"

        # The official client reads the same stream into typed events.
        fake.queue(ok(text))
        async with strict_client(url) as client:
            stream = await client.responses.create(model="fast", input="again, the fox", stream=True)
            typed = [e async for e in stream]
        assert typed[-1].type == "response.completed" and typed[-1].response.output_text == text


async def test_bad_responses_requests_get_openai_errors_and_leave_state_unchanged(tmp_path: Path) -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "city_time", "arguments": "{}"}
    cases: list[tuple[dict[str, Any], int, str | None, str]] = [
        ({"model": "auto"}, 400, "input", "missing_required_parameter"),
        ({"model": "auto", "input": 7}, 400, "input", "invalid_value"),
        ({"model": "nope", "input": "hi"}, 404, "model", "model_not_found"),
        (
            {"model": "auto", "input": "hi", "previous_response_id": "resp_1"},
            400,
            "previous_response_id",
            "unsupported_parameter",
        ),
        (
            {
                "model": "auto",
                "input": [
                    {"role": "user", "content": "hi"},
                    {"type": "function_call_output", "call_id": "c9", "output": "x"},
                ],
            },
            400,
            "input[1].call_id",
            "unknown_tool_call_id",
        ),
        (
            {
                "model": "auto",
                "input": [
                    {"role": "user", "content": "hi"},
                    call,
                    {"type": "function_call_output", "call_id": "c1", "output": "x"},
                ],
                "tools": [{"type": "web_search"}],
            },
            400,
            "tools[0].type",
            "unsupported_value",
        ),
        ({"model": "auto", "input": [{"type": "item_reference", "id": "msg_1"}]}, 400, "input[0]", "unsupported_value"),
        ({"model": "auto", "input": [{"role": "robot", "content": "hi"}]}, 400, "input[0].role", "invalid_value"),
        (
            {"model": "auto", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            400,
            "input[0].content[0].text",
            "invalid_value",
        ),
        ({"model": "auto", "input": []}, 400, "input", "invalid_value"),
    ]
    async with serving(tmp_path) as (engine, fake, url), httpx.AsyncClient(timeout=30) as http:
        assert engine.store is not None
        before = await engine.store.list_conversations()
        for body, status, param, code in cases:
            r = await http.post(f"{url}/responses", json=body)
            assert r.status_code == status, (body, r.text)
            error = r.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and (error["param"], error["code"]) == (
                param,
                code,
            ), (body, error)
            assert error["message"]
        assert await engine.store.list_conversations() == before
        assert _sent_to_provider(fake) == []  # nothing reached a provider


async def test_every_unknown_v1_path_answers_in_openais_error_shape(tmp_path: Path) -> None:
    async with serving(tmp_path) as (_, _fake, url), httpx.AsyncClient(timeout=30) as http:
        root = url.removesuffix("/v1")
        for method, path in [
            ("GET", "/v1/nope"),
            ("POST", "/v1/embeddings"),
            ("GET", "/v1"),
            ("DELETE", "/v1/files/x"),
            ("POST", "/v1/"),
        ]:
            r = await http.request(method, root + path, json={} if method == "POST" else None)
            assert r.status_code == 404, (method, path, r.text)
            assert r.headers["content-type"] == "application/json"
            error = r.json()["error"]
            assert error["type"] == "invalid_request_error" and error["code"] == "unknown_url"
            assert f"({method} {path})" in error["message"] and "POST /v1/responses" in error["message"]
        r = await http.get(f"{url}/responses")
        assert (
            r.status_code == 405 and r.headers["allow"] == "POST" and r.json()["error"]["code"] == "method_not_allowed"
        )
        r = await http.post(f"{url}/models", json={})
        assert r.status_code == 405 and r.headers["allow"] == "GET"
        async with strict_client(url) as client:
            with pytest.raises(openai.NotFoundError) as info:
                await client.embeddings.create(model="auto", input="x")
        assert info.value.code == "unknown_url"
        # /mcp is not affected: the catch-all lives under /v1 only.
        assert (await http.get(root + "/elsewhere")).status_code == 404
