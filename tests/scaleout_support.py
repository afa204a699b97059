"""Helpers shared by the multi-process tests (test_workers.py, test_scaleout_lb.py): start real
`mcproute serve --transport http` processes, read their `/status`, and send 2026-07-28 stateless
requests (no session, so any process may take any of them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runtime_support import child_env

MODERN = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "mcproute__run_step",
}
# Scripted models (tests/runtime_scripts.py): each calls the first offered tool, run_step executes it.
MODELS = {
    "quick": {"tier": "fast", "provider": "scripted", "script": "runtime_scripts:fast"},
    "deep": {"tier": "reasoning", "provider": "scripted", "script": "runtime_scripts:deep"},
}
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def write_config(tmp: Path, **extra: object) -> Path:
    config = {
        "data_dir": str(tmp / "data"),
        "servers": {"time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}},
        "routing": {"encoder": {"enabled": False}},
        **extra,
    }
    path = tmp / "servers.yaml"
    path.write_text(json.dumps(config))
    return path


@contextmanager
def serve(config: Path, *extra: str, workers: int | None = 2) -> Iterator[Served]:
    """`mcproute serve` on a free port; `workers=None` is one plain process (no `--workers` parent).
    Its output goes to serve.log beside the config, so give each process its own directory."""
    log = config.parent / "serve.log"
    cmd = [sys.executable, "-m", "mcproute", "serve", "--config", str(config), "--transport", "http", "--port", "0"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen([*cmd, *extra], stdout=out, stderr=out, env=child_env(), cwd=config.parent)
    served = Served(proc, "", log)
    lines = 1 if workers is None else workers + 1  # a parent's line, then each worker's
    try:
        deadline = time.monotonic() + 60
        while served.text().count("serving http") < lines:
            assert proc.poll() is None, served.text()
            assert time.monotonic() < deadline, served.text()
            time.sleep(0.05)
        served.url = next(w for w in served.text().split() if w.startswith("http://")).removesuffix("/mcp")
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def status(url: str) -> dict:
    # A new connection per request: the kernel (or a load balancer) picks who answers each.
    r = httpx.get(f"{url}/status", headers={"Connection": "close"}, timeout=10)
    r.raise_for_status()
    return r.json()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def run_step_body(i: int, text: str, conversation: str) -> dict[str, Any]:
    """A stateless (2026-07-28) `tools/call` of `mcproute__run_step` for one conversation."""
    return {
        "jsonrpc": "2.0",
        "id": i,
        "method": "tools/call",
        "params": {
            "name": "mcproute__run_step",
            "arguments": {"text": text, "conversation_id": conversation},
            "_meta": META,
        },
    }
