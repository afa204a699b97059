"""Scripted models for benchmarks/run_step.py (`script: "bench_models:echo"`).

The model does no inference: it calls `fx__echo` when the gateway offered it, else the first
offered tool with no arguments, so every step of the benchmark makes exactly one downstream call.
"""

from __future__ import annotations

from typing import Any

from mcproute.providers import ChatRequest


def echo(request: ChatRequest, index: int) -> Any:
    usage = {"input": 100, "output": 10}
    names = [t.name for t in request.tools]
    if "fx__echo" in names:
        return {"tool_calls": [{"name": "fx__echo", "arguments": {"text": "bench"}}], "usage": usage}
    if names:
        return {"tool_calls": [{"name": names[0], "arguments": {}}], "usage": usage}
    return {"text": "no tool offered", "usage": usage}
