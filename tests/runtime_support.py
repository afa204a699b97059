"""Configs and helpers shared by the runtime tests: real tool servers, scripted models."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

from mcproute.config import LoadedConfig, parse_config

TESTS = Path(__file__).parent
FIXTURE = str(TESTS / "fixtures" / "gateway_fixture_server.py")
HARD = (
    "Carefully prove, step by step and with a rigorous derivation of every edge case, why converting the current "
    "time between timezones across a daylight saving transition can go wrong, then get the current time in UTC"
)
EASY = "what time is it now in UTC"
_SERVING = re.compile(rb"serving (http://\S+/mcp)")


def config_dict(
    data_dir: str | Path,
    *,
    backend: str = "sqlite",
    servers: dict[str, Any] | None = None,
    expose: str = "all",
    **routing: Any,
) -> dict[str, Any]:
    return {
        "data_dir": str(data_dir),
        "servers": servers
        if servers is not None
        else {
            "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        },
        "models": {
            "quick": {
                "tier": "fast",
                "provider": "scripted",
                "script": "runtime_scripts:fast",
                "price": {"input": 0.1, "output": 0.4},
            },
            "deep": {
                "tier": "reasoning",
                "provider": "scripted",
                "script": "runtime_scripts:deep",
                "price": {"input": 3.0, "output": 15.0},
            },
        },
        "routing": {"step_down_after": 2, **routing},
        "reliability": {"backoff_base": 0.01, "backoff_max": 0.05},
        "gateway": {"expose": expose},
        "state": {"backend": backend},
        "telemetry": {"exporter": "none"},
    }


def loaded_config(data_dir: str | Path, **kw: Any) -> LoadedConfig:
    return parse_config(json.dumps(config_dict(data_dir, **kw)), environ={})


def write_config(path: Path, data_dir: str | Path, **kw: Any) -> Path:
    path.write_text(json.dumps(config_dict(data_dir, **kw)))  # JSON is YAML
    return path


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a `mcproute serve` child: the scripted models live in tests/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@asynccontextmanager
async def serve_http(
    config: Path, *, port: int = 0, log: list[bytes] | None = None, graceful: bool = False, **env: str
) -> AsyncIterator[tuple[Process, str]]:
    """`mcproute serve --transport http` as a child; yields (process, the /mcp URL).

    `log`: run at INFO (`-v`) and append its stderr there as it comes (else it is drained: a full
    pipe would block the server). `graceful`: stop with SIGINT, so batched spans are written out,
    and kill only if it has not stopped in 15 s; otherwise it is killed at once."""
    cmd = [sys.executable, "-m", "mcproute", "serve", "--config", str(config), "--transport", "http"]
    cmd += ["--port", str(port), *(["-v"] if log is not None else [])]
    sink = log if log is not None else []
    proc = await anyio.open_process(cmd, env=child_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    try:
        async with anyio.create_task_group() as tg:
            seen = b""
            with anyio.fail_after(60):
                while not (m := _SERVING.search(seen)):
                    try:
                        seen += await proc.stderr.receive()
                    except anyio.EndOfStream:
                        raise AssertionError(f"mcproute serve exited early: {seen.decode(errors='replace')}") from None
            if log is not None:
                sink.append(seen)

            async def drain() -> None:
                async for chunk in proc.stderr:  # type: ignore[union-attr]
                    if log is not None:
                        sink.append(chunk)

            tg.start_soon(drain)
            yield proc, m.group(1).decode()
            tg.cancel_scope.cancel()
    finally:
        if proc.returncode is None:
            if graceful:
                proc.send_signal(signal.SIGINT)
            else:
                proc.kill()
        with anyio.move_on_after(15 if graceful else 10):
            await proc.wait()
        await proc.aclose()  # kills it if it is still running, and reaps it either way
