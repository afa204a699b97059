"""Check the docs/clients.md lines for the clients that pin `mcp` < 2 (langchain-mcp-adapters,
mcp-use), which cannot share the project's venv. Run it from a throwaway venv that has them:

    python3 -m venv /tmp/mcp1 && /tmp/mcp1/bin/pip install langchain-mcp-adapters mcp-use langgraph
    /tmp/mcp1/bin/python scripts/verify_mcp1_clients.py .venv/bin/python examples/agents/offline.yaml

The first argument is the interpreter that has mcproute (it serves; this venv is only the client).
Prints one line per check and exits non-zero if any conversation was not kept.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from typing import Any

PY, CONFIG = sys.argv[1], sys.argv[2]
TEXTS = [
    "Prove rigorously, step by step, which edge cases break a meeting across a DST change; then get the time in UTC",
    "what time is it now in UTC",
    "what time is it now in Asia/Tokyo",
]
failures: list[str] = []


def ids(outputs: list[Any]) -> list[tuple[str, str]]:
    found = [re.search(r"conversation_id: (\S+) \(([^:;()]*)", str(o)) for o in outputs]
    return [(m.group(1), m.group(2)) if m else ("?", str(o)[:200]) for m, o in zip(found, outputs)]


def check(name: str, outputs: list[Any]) -> None:
    got = ids(outputs)
    ok = len({c for c, _ in got}) == 1 and "?" not in {c for c, _ in got}
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {got}")
    if not ok:
        failures.append(name)


async def main() -> None:
    env = {**os.environ, "MCPROUTE_DATA_DIR": tempfile.mkdtemp()}
    stdio = {"command": PY, "args": ["-m", "mcproute", "serve", "--config", CONFIG], "env": env}
    http = subprocess.Popen(
        [PY, "-m", "mcproute", "serve", "--config", CONFIG, "--transport", "http", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert http.stderr is not None
    url = None
    while url is None:
        line = http.stderr.readline()
        if not line:
            raise SystemExit("mcproute serve --transport http exited")
        if m := re.search(r"serving (http://\S+/mcp)", line):
            url = m.group(1)
    try:
        from langchain_mcp_adapters.client import MultiServerMCPClient
        from langchain_mcp_adapters.tools import load_mcp_tools

        client = MultiServerMCPClient({"mcproute": {"transport": "stdio", **stdio}})
        async with client.session("mcproute") as session:  # one session held open = one conversation
            tool = next(t for t in await load_mcp_tools(session) if t.name == "mcproute__run_step")
            check("langchain-mcp-adapters stdio, client.session()", [await tool.ainvoke({"text": t}) for t in TEXTS])
        headers = {"X-Conversation-Id": "lc-thread-1"}
        client = MultiServerMCPClient({"mcproute": {"transport": "streamable_http", "url": url, "headers": headers}})
        tool = next(t for t in await client.get_tools() if t.name == "mcproute__run_step")  # a new session per call
        check("langchain-mcp-adapters http, X-Conversation-Id header", [await tool.ainvoke({"text": t}) for t in TEXTS])

        from mcp_use import MCPClient
        from mcp_use.agents.adapters.langchain_adapter import LangChainAdapter

        for label, server in (
            ("stdio", stdio),
            ("http + header", {"url": url, "headers": {"X-Conversation-Id": "mcp-use-1"}}),
        ):
            mc = MCPClient(config={"mcpServers": {"mcproute": server}})
            await mc.create_all_sessions()
            try:
                # The LangChain adapter is what an MCPAgent uses: it sends null for every omitted optional argument.
                tools = await LangChainAdapter().create_tools(mc)
                tool = next(t for t in tools if t.name == "mcproute__run_step")
                check(f"mcp-use {label} (null optional arguments)", [await tool.ainvoke({"text": t}) for t in TEXTS])
            finally:
                await mc.close_all_sessions()
    finally:
        http.terminate()
        http.wait(10)
    sys.exit(1 if failures else 0)


asyncio.run(main())
