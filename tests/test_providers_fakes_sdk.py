"""The fake servers are only worth something if they speak the real wire formats: the official
OpenAI and Anthropic SDKs, with strict response validation, parse every shape they send."""

from __future__ import annotations

import anthropic
import openai
import pytest

from fakes.llm_server import fake_llm, ok, overloaded, rate_limited

pytestmark = pytest.mark.anyio

TOOL_CALL = ({"id": "call_7", "name": "time__now", "arguments": {"tz": "UTC"}},)
USAGE = {"input": 900, "output": 40, "cached_input": 512}


async def test_openai_sdk_parses_the_fake_chat_completion_and_its_errors() -> None:
    async with fake_llm() as srv:
        srv.queue(ok("", tool_calls=TOOL_CALL, usage=USAGE), rate_limited("4"))
        client = openai.AsyncOpenAI(
            base_url=srv.openai_url, api_key="sk-fake", max_retries=0, _strict_response_validation=True
        )
        async with client:
            done = await client.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": "time?"}],
                tools=[
                    {
                        "type": "function",
                        "function": {"name": "time__now", "parameters": {"type": "object", "properties": {}}},
                    }
                ],
            )
            with pytest.raises(openai.RateLimitError) as info:
                await client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "again"}])
    call = done.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("call_7", "time__now", '{"tz": "UTC"}')
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.usage is not None and done.usage.prompt_tokens_details is not None
    assert (done.usage.prompt_tokens, done.usage.prompt_tokens_details.cached_tokens) == (900, 512)
    assert info.value.status_code == 429 and info.value.response.headers["retry-after"] == "4"
    assert info.value.code == "rate_limit_exceeded"


async def test_anthropic_sdk_parses_the_fake_message_and_its_overloaded_error() -> None:
    async with fake_llm() as srv:
        srv.queue(ok("Checking.", tool_calls=TOOL_CALL, usage=USAGE, thinking="plan"), overloaded())
        client = anthropic.AsyncAnthropic(
            base_url=srv.anthropic_url, api_key="sk-ant-fake", max_retries=0, _strict_response_validation=True
        )
        async with client:
            msg = await client.messages.create(
                model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "time?"}]
            )
            with pytest.raises(anthropic.APIStatusError) as info:
                await client.messages.create(
                    model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "again"}]
                )
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[2].type == "tool_use" and msg.content[2].input == {"tz": "UTC"}
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (900 - 512, 512)
    assert info.value.status_code == 529
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_fake",
    }


async def test_both_sdks_assemble_the_fakes_streams() -> None:
    """The streamed shapes too (llm_stream.py): each SDK's own stream helper rebuilds the reply."""
    from fakes.llm_server import streamed

    async with fake_llm() as srv:
        srv.queue(
            streamed("It is noon.", tool_calls=TOOL_CALL, usage=USAGE),
            streamed("It is noon.", tool_calls=TOOL_CALL, usage=USAGE),
        )
        oai = openai.AsyncOpenAI(
            base_url=srv.openai_url, api_key="sk-fake", max_retries=0, _strict_response_validation=True
        )
        async with (
            oai,
            oai.chat.completions.stream(
                model="gpt-test",
                messages=[{"role": "user", "content": "time?"}],
                stream_options={"include_usage": True},
                tools=[
                    {
                        "type": "function",
                        "function": {"name": "time__now", "parameters": {"type": "object", "properties": {}}},
                    }
                ],
            ) as s,
        ):
            done = await s.get_final_completion()
        ant = anthropic.AsyncAnthropic(
            base_url=srv.anthropic_url, api_key="sk-ant-fake", max_retries=0, _strict_response_validation=True
        )
        async with (
            ant,
            ant.messages.stream(
                model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "time?"}]
            ) as m,
        ):
            message = await m.get_final_message()
    msg = done.choices[0].message
    assert msg.content == "It is noon." and msg.tool_calls and msg.tool_calls[0].function.arguments == '{"tz": "UTC"}'
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.completion_tokens) == (900, 40)
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "It is noon." and message.content[1].input == {"tz": "UTC"}  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        900 - 512,
        512,
        40,
    )
