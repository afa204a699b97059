"""Two conversations side by side: one escalates and later steps down, the other stays fast.

    python examples/agents/sticky_demo.py

Conversation "escalates" opens with a hard request: mcproute puts it on the reasoning tier at
once. The next steps are easy, but one easy step is not enough to leave (a switch throws away the
provider's prompt cache): it steps down to the fast tier only after `routing.step_down_after`
confident fast steps in a row. Each `run_step` executes its tool call and returns the result, so
no call is left pending and these tool-calling steps count. Conversation "stays-fast" asks only
easy things and never leaves the fast tier. The two run interleaved through one gateway and never
see each other's state.

At the end the gateway is stopped (which flushes its trace file) and the decision timeline of
each conversation is printed by `mcproute traces`, read back from the traces mcproute recorded.
"""

from __future__ import annotations

import argparse
import subprocess
import uuid
from pathlib import Path

import anyio
from _common import REPO, add_arguments, config_path, http_server, mcproute_command, server_env, short
from mcp import Client

ESCALATES = [
    # Hard: escalates at once, and the model calls a tool.
    "Prove rigorously, step by step, which edge cases break a recurring meeting between Tokyo and London "
    "across daylight saving transitions; derive each case, then get the current time in Asia/Tokyo",
    # Easy steps (each calls a tool, and gets its result within the step): the first one is held
    # on reasoning, 1 of k = routing.step_down_after = 2 ...
    "Convert 09:00 from Asia/Tokyo to Europe/London",
    # ... the second steps down to the fast tier ...
    "Convert 18:00 from Europe/London to Asia/Tokyo",
    # ... and the conversation stays on the fast tier afterwards.
    "Thanks, that is all I needed on that",
    "What time is it in Paris?",
    "And what time is it in Berlin?",
]
STAYS_FAST = [
    "What time is it now in UTC?",
    "Convert 14:30 from Europe/Paris to America/New_York",
    "What time is it in Sydney?",
    "And in Singapore?",
]


async def step(client: Client, conversation: str, text: str) -> dict[str, object]:
    result = await client.call_tool("mcproute__run_step", {"text": text, "conversation_id": conversation})
    return dict(result.structured_content or {})


def traces(config: Path, env: dict[str, str], conversation: str) -> str:
    cmd = mcproute_command("traces", "--config", str(config), "--conversation", conversation)
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    return (done.stdout or done.stderr).rstrip()


async def main(args: argparse.Namespace) -> None:
    config = config_path(args)
    env = server_env(args)
    run = uuid.uuid4().hex[:6]  # fresh ids: stored state from an earlier run must not carry over
    a, b = f"escalates-{run}", f"stays-fast-{run}"
    tiers: dict[str, list[str]] = {a: [], b: []}
    async with http_server(config, env) as base, Client(f"{base}/mcp") as client:
        print(f"two conversations through one mcproute ({config.name}): {a} and {b}\n")
        for i in range(max(len(ESCALATES), len(STAYS_FAST))):
            for conversation, texts in ((a, ESCALATES), (b, STAYS_FAST)):
                if i >= len(texts):
                    continue
                s = await step(client, conversation, texts[i])
                tiers[conversation].append(str(s.get("tier")))
                decision = s.get("decision") or {}
                assert isinstance(decision, dict)
                print(
                    f"{conversation:<18} step {i + 1}  {s.get('tier'):<9} {s.get('model'):<6} "
                    f"{str(s.get('tool') or 'no tool'):<24} {short(decision.get('sticky_reason'), 70)}"
                )
    # The gateway has stopped: its trace file is complete.
    for conversation in (a, b):
        print(f"\n$ mcproute traces --conversation {conversation}")
        print(traces(config, env, conversation))
    print(f"\n{a}: {' -> '.join(tiers[a])}")
    print(f"{b}: {' -> '.join(tiers[b])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    anyio.run(main, parser.parse_args())
