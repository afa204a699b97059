"""A multi-turn agent loop that lets mcproute choose the tool and the model at every step.

    python examples/agents/react_loop.py            # mcproute spawned over stdio
    python examples/agents/react_loop.py --http     # the same over streamable HTTP

Each step goes through the gateway's `mcproute__run_step` meta-tool: mcproute ranks the catalogue's
tools for the step, picks the model tier (reasoning or fast) for this conversation, lets that model
call a tool, executes the call on the real downstream server, and returns the result with the
decision. The loop only keeps the `conversation_id` it got back on the first step, which is what
keeps the conversation sticky. Offline (no provider keys) the models are the scripted ones of
examples/agents/offline.yaml; with OPENAI_API_KEY / ANTHROPIC_API_KEY set, live.yaml's real ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import anyio
from _common import REPO, add_arguments, config_path, http_server, server_env, short, stdio_server
from mcp import Client

TASK = "Plan a call between Tokyo and London, then check what changed lately in this repository."
STEPS = [
    # A hard opening: the conversation escalates to the reasoning tier ...
    "Prove rigorously, step by step, which edge cases break a recurring meeting between Tokyo and London "
    "across daylight saving transitions; derive each case, then get the current time in Asia/Tokyo",
    # ... and stays there through its tool loop, while the tools change with each step.
    "Convert 09:00 from Asia/Tokyo to Europe/London",
    f"Show the git log of the repository at {REPO}",
    f"Show the git status of the repository at {REPO}",
    "Summarise for the user what you found",
]


async def run(client: Client, steps: list[str]) -> str | None:
    conversation_id = None
    for n, text in enumerate(steps, 1):
        args: dict[str, Any] = {"text": text}
        if conversation_id:
            args["conversation_id"] = conversation_id
        result = await client.call_tool("mcproute__run_step", args)
        step = result.structured_content or {}
        conversation_id = step.get("conversation_id", conversation_id)
        decision = step.get("decision") or {}
        print(f"step {n}: {short(text, 90)}")
        print(
            f"  tool:  {step.get('tool') or 'none'}"
            + (f" {json.dumps(step.get('arguments'))}" if step.get("tool") else "")
        )
        print(
            f"  model: {step.get('model')} ({step.get('tier')}), sticky {'held' if decision.get('sticky_held') else 'broke'}"
        )
        # In full: the sticky reason says what held (or moved) the tier, model and tools; the
        # reason why this tool and this model.
        print(f"  sticky: {decision.get('sticky_reason')}")
        print(f"  why:   {decision.get('reason')}")
        result_text = next((c.text for c in result.content[1:] if getattr(c, "type", "") == "text"), "")
        if step.get("tool_error") or step.get("validation_error"):
            print(f"  error: {short(step.get('tool_error') or step.get('validation_error'))}")
        elif result_text:
            print(f"  result: {short(result_text)}")
        elif step.get("text"):
            print(f"  answer: {short(step['text'])}")
    print(f"done: {len(steps)} steps in conversation {conversation_id}")
    return conversation_id


def traces_hint(args: argparse.Namespace, config: Path, conversation_id: str) -> str:
    """The `mcproute traces` command that shows this run's decisions, from the repository root."""
    where = (
        f"--data-dir {args.data_dir}"
        if args.data_dir
        else f"--config {config.relative_to(REPO) if config.is_relative_to(REPO) else config}"
    )
    return f"mcproute traces {where} --conversation {conversation_id}"


async def main(args: argparse.Namespace) -> None:
    config = config_path(args)
    env = server_env(args)
    print(f"task: {TASK}")
    if args.http:
        async with http_server(config, env) as base:
            print(f"mcproute over streamable HTTP at {base}/mcp ({config.name})")
            async with Client(f"{base}/mcp") as client:
                conversation_id = await run(client, STEPS)
    else:
        print(f"mcproute over stdio ({config.name})")
        async with Client(stdio_server(config, env)) as client:
            conversation_id = await run(client, STEPS)
    if conversation_id:
        print(f"decisions: {traces_hint(args, config, conversation_id)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http", action="store_true", help="connect over streamable HTTP instead of stdio")
    add_arguments(parser)
    anyio.run(main, parser.parse_args())
