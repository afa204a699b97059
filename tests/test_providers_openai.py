"""OpenAI-compatible adapter and every HTTP fault, against a real loopback server."""

from __future__ import annotations

import json
import logging

import pytest

from fakes.clock import FakeClock
from fakes.llm_server import (
    bad_request,
    echo_key_401,
    fake_llm,
    malformed_json,
    ok,
    rate_limited,
    reset_server,
    server_error,
    slow,
    wrong_content_type,
)
from fakes.pools import make_pool, summary
from mcproute.errors import ProviderRequestRejected, ProviderUnavailable
from mcproute.providers import ChatRequest, Message, ToolCall, ToolDef, http_client
from mcproute.providers.tools import ToolNames

pytestmark = pytest.mark.anyio

USER = ChatRequest.build([{"role": "system", "content": "be brief"}, {"role": "user", "content": "what time is it?"}])
KEY_A = "sk-test-AAAA-0123456789"
KEY_B = "sk-test-BBBB-9876543210"


def model(url: str | list[str], **extra: object) -> dict[str, object]:
    urls = [url] if isinstance(url, str) else url
    keys = [KEY_A, KEY_B, "sk-test-CCCC-55555555"]
    return {
        "provider": "openai",
        "model": "gpt-test",
        "tier": "fast",
        "price": {"input": 1.0, "output": 2.0, "cached_input": 0.1},
        "deployments": [{"base_url": u, "api_key": keys[i]} for i, u in enumerate(urls)],
        **extra,
    }


async def test_tool_call_reply_round_trips_names_usage_and_cost() -> None:
    tools = [
        ToolDef(
            "git.log", "show commits", {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        ),
        ToolDef("time__now", "current time", {"type": "object", "properties": {}}),
    ]
    # The model calls the (sanitised) wire name it was given; it must come back as the MCP name.
    wire = ToolNames(tools).wire("git.log")
    async with fake_llm() as srv, http_client() as client:
        srv.queue(
            ok(
                "",
                tool_calls=({"id": "call_1", "name": wire, "arguments": {"n": 3}},),
                usage={"input": 2000, "output": 100, "cached_input": 1500},
            )
        )
        pool = make_pool(
            {"models": {"quick": model(srv.openai_url, capabilities={"reasoning": True}, reasoning_effort="low")}},
            client,
        )
        request = ChatRequest(
            USER.messages
            + (
                Message("assistant", "", (ToolCall("call_0", "time__now", {}),)),
                Message("tool", "12:00", tool_call_id="call_0"),
            ),
            tuple(tools),
        )
        result = await pool.chat(request, tier="fast")

    sent = srv.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY_A}"
    assert sent.body["model"] == "gpt-test"
    assert (
        sent.body["reasoning_effort"] == "low"
        and "max_completion_tokens" in sent.body
        and "temperature" not in sent.body
    )
    assert [t["function"]["name"] for t in sent.body["tools"]] == [wire, "time__now"]
    assert wire != "git.log" and all(c.isalnum() or c in "_-" for c in wire)
    assert sent.body["messages"][2]["tool_calls"][0]["function"] == {"name": "time__now", "arguments": "{}"}
    assert sent.body["messages"][3] == {"role": "tool", "tool_call_id": "call_0", "content": "12:00"}

    r = result.response
    assert r.tool_calls == (ToolCall("call_1", "git.log", {"n": 3}),)
    assert (r.usage.input, r.usage.output, r.usage.cached_input) == (2000, 100, 1500)
    # price per 1M: 500 uncached x 1.0 + 1500 cached x 0.1 + 100 out x 2.0
    assert r.cost_usd == pytest.approx((500 * 1.0 + 1500 * 0.1 + 100 * 2.0) / 1e6)
    assert summary(result.attempts) == [("quick#0", "ok", None, None)]
    assert result.attempts[0].cached_input_tokens == 1500 and result.attempts[0].cost_usd == r.cost_usd


async def test_429_with_retry_after_waits_exactly_that_long_on_a_single_deployment() -> None:
    clock = FakeClock()
    async with fake_llm() as srv, http_client() as client:
        srv.queue(rate_limited("3"))
        pool = make_pool({"models": {"quick": model(srv.openai_url)}}, client, clock)
        result = await pool.chat(USER, tier="fast")
    assert summary(result.attempts) == [("quick#0", "error", "rate_limited", 429), ("quick#0", "ok", None, None)]
    assert result.attempts[0].retry_after == 3.0
    assert clock.sleeps == [3.0]  # Retry-After beats the 0.1-0.2 s backoff
    assert len(srv.requests) == 2


async def test_429_rotates_to_the_next_key_without_waiting() -> None:
    clock = FakeClock()
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(rate_limited("30"))
        pool = make_pool({"models": {"quick": model([a.openai_url, b.openai_url])}}, client, clock)
        result = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        assert summary(result.attempts) == [("quick#0", "error", "rate_limited", 429), ("quick#1", "ok", None, None)]
        assert clock.sleeps == []
        assert b.requests[0].headers["authorization"] == f"Bearer {KEY_B}"
        # While cooling off, the next call goes straight to the other key, recording the skip.
        again = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        assert summary(again.attempts) == [("quick#0", "skipped", "rate_limited", None), ("quick#1", "ok", None, None)]
        assert len(a.requests) == 1


@pytest.mark.parametrize(
    ("fault", "error_type", "status"),
    [
        (server_error(500), "server_error", 500),
        (server_error(503), "server_error", 503),
        (malformed_json(), "protocol_error", None),
        (wrong_content_type(), "protocol_error", None),
    ],
)
async def test_fault_falls_back_to_the_next_deployment(fault, error_type, status) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(fault)
        pool = make_pool({"models": {"quick": model([a.openai_url, b.openai_url])}}, client, clock)
        result = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
    assert summary(result.attempts) == [("quick#0", "error", error_type, status), ("quick#1", "ok", None, None)]
    assert clock.sleeps == [] and result.deployment == "quick#1"


async def test_connection_reset_falls_back_to_the_next_deployment() -> None:
    async with reset_server() as dead, fake_llm() as b, http_client() as client:
        pool = make_pool({"models": {"quick": model([dead + "/v1", b.openai_url])}}, client, FakeClock())
        result = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
    assert summary(result.attempts) == [("quick#0", "error", "connection_error", None), ("quick#1", "ok", None, None)]
    assert "127.0.0.1" in result.attempts[0].message


async def test_connection_refused_is_a_connection_error() -> None:
    async with reset_server() as dead:
        pass  # closed again: nothing listens on that port any more
    async with http_client() as client:
        pool = make_pool(
            {"models": {"quick": model(dead + "/v1")}, "reliability": {"max_attempts": 2}}, client, FakeClock()
        )
        with pytest.raises(ProviderUnavailable) as info:
            await pool.chat(USER, tier="fast")
    assert summary(info.value.attempts) == [("quick#0", "error", "connection_error", None)] * 2
    assert "quick#0 connection_error" in str(info.value)


async def test_slow_reply_past_its_timeout_falls_back() -> None:
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(slow(30))
        pool = make_pool({"models": {"quick": model([a.openai_url, b.openai_url], timeout=0.3)}}, client)
        result = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
    assert summary(result.attempts) == [("quick#0", "error", "timeout", None), ("quick#1", "ok", None, None)]


async def test_slow_reply_past_the_step_deadline_gives_up_with_the_attempts() -> None:
    async with fake_llm() as a, http_client() as client:
        a.queue(slow(30))
        pool = make_pool({"models": {"quick": model(a.openai_url)}}, client)
        with pytest.raises(ProviderUnavailable) as info:
            await pool.chat(USER, tier="fast", deadline=pool.deadline_in(0.3))
    assert summary(info.value.attempts) == [("quick#0", "error", "timeout", None)]
    assert "deadline reached" in str(info.value)
    assert len(a.requests) == 1


async def test_bad_request_stops_instead_of_trying_every_deployment() -> None:
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(bad_request())
        pool = make_pool({"models": {"quick": model([a.openai_url, b.openai_url])}}, client, FakeClock())
        with pytest.raises(ProviderRequestRejected) as info:
            await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
    assert info.value.status == 400 and "Invalid 'messages'" in str(info.value)
    assert summary(info.value.attempts) == [("quick#0", "error", "request_rejected", 400)]  # type: ignore[attr-defined]
    assert b.requests == []


async def test_api_keys_and_prompts_never_reach_logs_errors_or_attempts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_prompt = "my-secret-prompt-text-42"
    request = ChatRequest.build([{"role": "user", "content": secret_prompt}])
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(echo_key_401())
        b.queue(echo_key_401())
        pool = make_pool(
            {"models": {"quick": model([a.openai_url, b.openai_url])}, "reliability": {"max_attempts": 2}},
            client,
            FakeClock(),
        )
        with pytest.raises(ProviderUnavailable) as info:
            await pool.chat(request, tier="fast")
    # The server really got the key and echoed it back in its error body...
    assert a.requests[0].headers["authorization"].endswith(KEY_A)
    assert summary(info.value.attempts) == [
        ("quick#0", "error", "request_rejected", 401),
        ("quick#1", "error", "request_rejected", 401),
    ]
    # ...but it is scrubbed from everything we produce.
    texts = [
        str(info.value),
        caplog.text,
        repr(info.value.attempts),
        json.dumps([a.to_dict() for a in info.value.attempts]),
        repr(pool.entries),
        repr(pool.status()),
    ]
    for text in texts:
        for secret in (KEY_A, KEY_B, secret_prompt):
            assert secret not in text
    assert "Incorrect API key provided: [REDACTED]" in info.value.attempts[0].message


async def test_openai_tool_arguments_that_are_not_json_are_kept_as_an_argument_error() -> None:
    async with fake_llm() as srv, http_client() as client:
        srv.queue(ok("", tool_calls=({"name": "time__now", "arguments": "{not json"},)))
        pool = make_pool({"models": {"quick": model(srv.openai_url)}}, client)
        result = await pool.chat(USER, tier="fast")
    call = result.response.tool_calls[0]
    assert call.name == "time__now" and call.arguments == {} and "not valid JSON" in (call.arguments_error or "")
