"""Anthropic adapter, 529 overloaded, and fallback across models and (only when configured) tiers."""

from __future__ import annotations

import pytest

from fakes.clock import FakeClock
from fakes.llm_server import fake_llm, ok, overloaded, rate_limited, server_error
from fakes.pools import make_pool, summary
from mcproute.errors import ProviderUnavailable
from mcproute.providers import ChatRequest, Message, ToolCall, ToolDef, http_client

pytestmark = pytest.mark.anyio

KEY = "sk-ant-test-0123456789abcdef"
USER = ChatRequest.build([{"role": "system", "content": "be brief"}, {"role": "user", "content": "list commits"}])


def claude(url: str, tier: str = "reasoning", **extra: object) -> dict[str, object]:
    return {
        "provider": "anthropic",
        "model": "claude-test",
        "tier": tier,
        "base_url": url,
        "api_key": KEY,
        "price": {"input": 5.0, "output": 25.0, "cached_input": 0.5},
        **extra,
    }


def gpt(url: str, tier: str = "fast") -> dict[str, object]:
    return {
        "provider": "openai",
        "model": "gpt-test",
        "tier": tier,
        "base_url": url,
        "price": {"input": 0.25, "output": 2.0},
    }


async def test_messages_api_shape_thinking_tool_use_and_cached_cost() -> None:
    tools = (ToolDef("git__log", "show commits", {"type": "object", "properties": {"n": {"type": "integer"}}}),)
    async with fake_llm() as srv, http_client() as client:
        srv.queue(
            ok(
                "Let me look.",
                tool_calls=({"id": "toolu_9", "name": "git__log", "arguments": {"n": 2}},),
                usage={"input": 10_000, "output": 300, "cached_input": 8_000},
                thinking="need the log",
            )
        )
        pool = make_pool(
            {"models": {"deep": claude(srv.anthropic_url, capabilities={"reasoning": True}, thinking_budget=2048)}},
            client,
        )
        request = ChatRequest(
            USER.messages
            + (
                Message(
                    "assistant",
                    "",
                    (ToolCall("toolu_1", "git__log", {"n": 1}),),
                    thinking=({"type": "thinking", "thinking": "t", "signature": "s"},),
                ),
                Message("tool", "abc123 init", tool_call_id="toolu_1"),
            ),
            tools,
            max_tokens=500,
        )
        result = await pool.chat(request, tier="reasoning")

    sent = srv.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.body
    assert body["system"] == "be brief" and all(m["role"] != "system" for m in body["messages"])
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and body["max_tokens"] == 2048 + 500
    assert body["tools"] == [
        {
            "name": "git__log",
            "description": "show commits",
            "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        }
    ]
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "tool_use", "id": "toolu_1", "name": "git__log", "input": {"n": 1}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "abc123 init"}],
    }

    r = result.response
    assert r.text == "Let me look." and r.tool_calls == (ToolCall("toolu_9", "git__log", {"n": 2}),)
    assert r.thinking[0]["signature"] == "sig-fake" and r.as_message().thinking == r.thinking
    # input_tokens (2000) + cache_read_input_tokens (8000) = 10000 total, 8000 of them cached
    assert (r.usage.input, r.usage.cached_input, r.usage.output) == (10_000, 8_000, 300)
    assert r.cost_usd == pytest.approx((2_000 * 5.0 + 8_000 * 0.5 + 300 * 25.0) / 1e6)
    assert r.provider == "anthropic" and r.model == "claude-test" and r.stop_reason == "tool_use"


async def test_529_overloaded_falls_back_to_the_next_model_of_the_same_tier() -> None:
    clock = FakeClock()
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(overloaded())
        pool = make_pool(
            {"models": {"deep": claude(a.anthropic_url), "deep2": gpt(b.openai_url, tier="reasoning")}}, client, clock
        )
        result = await pool.chat(USER, model="deep")
    assert summary(result.attempts) == [("deep#0", "error", "server_error", 529), ("deep2#0", "ok", None, None)]
    assert "overloaded_error: Overloaded" in result.attempts[0].message
    assert (result.model, result.tier, result.response.provider) == ("deep2", "reasoning", "openai")


async def test_no_cross_tier_fallback_unless_configured() -> None:
    clock = FakeClock()
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(server_error(500), server_error(500))
        models = {"quick": gpt(a.openai_url), "deep": claude(b.anthropic_url)}
        pool = make_pool({"models": models, "reliability": {"max_attempts": 2}}, client, clock)
        with pytest.raises(ProviderUnavailable) as info:
            await pool.chat(USER, tier="fast")
        assert summary(info.value.attempts) == [("quick#0", "error", "server_error", 500)] * 2
        assert b.requests == []

        a.queue(server_error(500))
        crossing = make_pool({"models": models, "routing": {"cross_tier_fallback": True}}, client, clock)
        result = await crossing.chat(USER, tier="fast")
    assert summary(result.attempts) == [("quick#0", "error", "server_error", 500), ("deep#0", "ok", None, None)]
    assert result.tier == "reasoning"


async def test_anthropic_429_retry_after_is_honoured_then_succeeds() -> None:
    clock = FakeClock()
    async with fake_llm() as a, http_client() as client:
        a.queue(rate_limited("7"))
        pool = make_pool({"models": {"deep": claude(a.anthropic_url)}}, client, clock)
        result = await pool.chat(USER, tier="reasoning")
    assert summary(result.attempts) == [("deep#0", "error", "rate_limited", 429), ("deep#0", "ok", None, None)]
    assert clock.sleeps == [7.0]


async def test_retry_after_beyond_the_deadline_gives_up_at_once_instead_of_sleeping() -> None:
    clock = FakeClock()
    async with fake_llm() as a, http_client() as client:
        a.queue(rate_limited("600"))
        pool = make_pool({"models": {"deep": claude(a.anthropic_url)}}, client, clock)
        with pytest.raises(ProviderUnavailable) as info:
            await pool.chat(USER, tier="reasoning", deadline=pool.deadline_in(60))
    assert clock.sleeps == []
    assert summary(info.value.attempts) == [("deep#0", "error", "rate_limited", 429)]


async def test_streamed_reply_keeps_thinking_tool_use_and_cached_cost_and_falls_back_before_the_first_delta() -> None:
    from contextlib import aclosing

    from fakes.llm_server import streamed
    from mcproute.providers.reliable_stream import StreamFinished, StreamStarted
    from mcproute.providers.streaming import TextDelta, ToolCallDelta

    tools = (ToolDef("git__log", "show commits", {"type": "object", "properties": {"n": {"type": "integer"}}}),)
    async with fake_llm() as srv, http_client() as client:
        srv.queue(
            overloaded(),
            streamed(
                "Let me look at it.",
                thinking="need the log",
                usage={"input": 10_000, "output": 300, "cached_input": 8_000},
                tool_calls=({"id": "toolu_9", "name": "git__log", "arguments": {"n": 2}},),
            ),
        )
        pool = make_pool(
            {
                "models": {
                    "deep": claude(
                        srv.anthropic_url, capabilities={"reasoning": True}, thinking_budget=2048, deployments=[{}, {}]
                    )
                }
            },
            client,
        )
        async with aclosing(pool.stream(ChatRequest(USER.messages, tools), tier="reasoning")) as events:
            seen = [e async for e in events]
    assert isinstance(seen[0], StreamStarted) and seen[0].deployment == "deep#1"  # the 529 on #0 was retried unseen
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "Let me look at it."
    assert len([e for e in seen if isinstance(e, TextDelta)]) == 5
    assert "".join(e.arguments for e in seen if isinstance(e, ToolCallDelta)) == '{"n": 2}'
    assert isinstance(seen[-1], StreamFinished)
    result = seen[-1].result
    r = result.response
    assert r.thinking == ({"type": "thinking", "thinking": "need the log", "signature": "sig-fake"},)
    assert r.tool_calls == (ToolCall("toolu_9", "git__log", {"n": 2}),) and r.stop_reason == "tool_use"
    assert (r.usage.input, r.usage.output, r.usage.cached_input) == (10_000, 300, 8_000)
    assert r.cost_usd == pytest.approx((2_000 * 5.0 + 8_000 * 0.5 + 300 * 25.0) / 1e6)
    assert summary(result.attempts) == [("deep#0", "error", "server_error", 529), ("deep#1", "ok", None, None)]
    assert result.attempts[1].first_chunk_s is not None and result.attempts[0].first_chunk_s is None
    assert srv.requests[1].body["stream"] is True and srv.requests[1].body["thinking"]["budget_tokens"] == 2048
