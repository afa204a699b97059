"""Script functions for the scripted provider (`script: "fakes.scripts:<name>"`)."""

from __future__ import annotations

from typing import Any

from mcproute.providers import ChatRequest


def echo(request: ChatRequest, index: int) -> Any:
    """Reply with the last user message, numbered; call `time__now` when asked for the time."""
    last = request.messages[-1].content
    if "time" in last:
        return {"tool_calls": [{"name": "time__now", "arguments": {"tz": "UTC"}}], "usage": {"input": 10, "output": 3}}
    return f"{index}: {last}"


async def flaky(request: ChatRequest, index: int) -> Any:
    """Async script: the first call fails with a 503, later calls answer."""
    if index == 0:
        return {"error": "server_error", "status": 503, "message": "scripted outage"}
    return "recovered"


def broken(request: ChatRequest, index: int) -> Any:
    raise RuntimeError("bug in the script")
