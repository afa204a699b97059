"""The same agent loop, written against the official `openai` client pointed at mcproute.

    python examples/agents/openai_loop.py             # tool calls executed on mcproute's /mcp endpoint
    python examples/agents/openai_loop.py --stream    # the same, with streamed replies
    python examples/agents/openai_loop.py --execute run_step   # or each tool call re-run via mcproute__run_step

An existing chat-completions loop needs two changes to be routed: `base_url` points at mcproute's
`/v1`, and `model="auto"`. Every request then gets its own routing decision (tier and model),
sticky per conversation — recognised from the conversation's opening messages, so this loop sends
no conversation id at all. `tools: "mcp"` (an mcproute extension, passed through `extra_body`)
offers the model the catalogue's most relevant tools for the step; the model's tool calls come
back in OpenAI's format, under the catalogue's names, so the loop runs them on the MCP endpoint of
the same gateway and sends the results back as `tool` messages, as any OpenAI agent loop does.
The decision travels in the `x-mcproute-*` response headers, read here through `with_raw_response`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio
import openai
from _common import REPO, add_arguments, config_path, http_server, server_env, short
from mcp import Client

SYSTEM = "You are a scheduling and repository assistant. Use the tools you are given; answer briefly."
TURNS = [
    "Prove rigorously, step by step, which edge cases break a recurring meeting between Tokyo and London "
    "across daylight saving transitions; derive each case, then get the current time in Asia/Tokyo",
    "Convert 09:00 from Asia/Tokyo to Europe/London",
    f"Show the git log of the repository at {REPO}",
]
MAX_CALLS_PER_TURN = 4


async def call_tool(mcp: Client, name: str, arguments: dict[str, Any], execute: str, conversation: str) -> str:
    if execute == "run_step":
        # Hand the step to mcproute instead, in the same conversation: it routes the step again
        # (tool and model) and runs the tool it chooses.
        result = await mcp.call_tool(
            "mcproute__run_step", {"text": f"call {name} with {json.dumps(arguments)}", "conversation_id": conversation}
        )
    else:
        result = await mcp.call_tool(name, arguments)
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text") or "(no text)"


def preview(result: str) -> str:
    """What to print of a tool result: run_step's first line (the conversation id, which this
    loop already passes) is skipped, so the preview shows what the step did."""
    first, _, rest = result.partition("\n")
    return rest if first.startswith("conversation_id: ") and rest else result


async def ask(client: openai.AsyncOpenAI, messages: list[dict[str, Any]], stream: bool) -> tuple[Any, dict[str, Any]]:
    """One routed model call; returns (response headers, the assistant message as a dict)."""
    if not stream:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, extra_body={"tools": "mcp"}
        )  # type: ignore[arg-type]
        message = raw.parse().choices[0].message
        return raw.headers, message.model_dump(exclude_none=True)
    raw = await client.chat.completions.with_raw_response.create(  # type: ignore[call-overload]
        model="auto", messages=messages, stream=True, extra_body={"tools": "mcp"}
    )
    text, calls = "", {}
    async for chunk in raw.parse():
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is None:
            continue
        text += delta.content or ""
        for tc in delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            slot["id"] += tc.id or ""
            if tc.function:
                slot["function"]["name"] += tc.function.name or ""
                slot["function"]["arguments"] += tc.function.arguments or ""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return raw.headers, message


async def run(base: str, args: argparse.Namespace) -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    async with (
        openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-offline", max_retries=0) as client,
        Client(f"{base}/mcp") as mcp,
    ):
        for turn, text in enumerate(TURNS, 1):
            print(f"turn {turn}: {short(text, 90)}")
            messages.append({"role": "user", "content": text})
            for _ in range(MAX_CALLS_PER_TURN):
                headers, message = await ask(client, messages, args.stream)
                messages.append(message)
                who = f"{headers['x-mcproute-model']} ({headers['x-mcproute-tier']})"
                calls = message.get("tool_calls") or []
                for call in calls:
                    fn = call["function"]
                    print(f"  model {who} -> tool {fn['name']} {fn['arguments']}")
                    result = await call_tool(
                        mcp,
                        fn["name"],
                        json.loads(fn["arguments"] or "{}"),
                        args.execute,
                        headers["x-mcproute-conversation-id"],
                    )
                    print(f"    result: {short(preview(result))}")
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
                if not calls:
                    print(f"  model {who} -> answer: {short(message.get('content'))}")
                    print(
                        f"  conversation {headers['x-mcproute-conversation-id']} "
                        f"({headers['x-mcproute-conversation-source']}), sticky {headers['x-mcproute-sticky'][:60]}"
                    )
                    break


async def main(args: argparse.Namespace) -> None:
    config = config_path(args)
    async with http_server(config, server_env(args)) as base:
        print(f"openai client -> {base}/v1/chat/completions (mcproute, {config.name})")
        await run(base, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream", action="store_true", help="stream each reply (stream=True)")
    parser.add_argument(
        "--execute",
        choices=["mcp", "run_step"],
        default="mcp",
        help="run tool calls on the MCP endpoint (default) or hand them to mcproute__run_step",
    )
    add_arguments(parser)
    anyio.run(main, parser.parse_args())
