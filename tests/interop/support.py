"""Paths, process helpers and config entries shared by the interop tests (fixtures live in conftest)."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / ".peers"
MODULES = PEERS / "node_modules"
FIXTURE = REPO / "tests" / "fixtures" / "conformance_server.py"

STARTUP_TIMEOUT = 90.0  # first start of several Node servers on a loaded 2-core CI box
SERVING_LINE = re.compile(r"serving (http://\S+/mcp)")
READY_LINE = re.compile(r"READY (http://\S+/mcp)")


@dataclass(frozen=True)
class Peers:
    """Paths of the installed peers. `node` is the pinned Node 22 (the system Node may be older)."""

    node: Path = MODULES / ".bin" / "node"
    everything: Path = MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    memory: Path = MODULES / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"
    inspector: Path = MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
    conformance: Path = MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"

    def all(self) -> list[Path]:
        return [self.node, self.everything, self.memory, self.inspector, self.conformance]


def server_entries(peers: Peers, tmp: Path) -> dict[str, dict[str, Any]]:
    """servers.yaml entries for every real downstream the interop tests use."""
    return {
        # 2026-07-28 era (Python SDK 2.3); `python` = mcproute's own interpreter.
        "time": {"command": "python", "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        "git": {"command": "python", "args": ["-m", "mcp_server_git", "--repository", str(REPO)]},
        # Handshake era (TypeScript SDK 1.x).
        "everything": {"command": str(peers.node), "args": [str(peers.everything), "stdio"]},
        "memory": {
            "command": str(peers.node),
            "args": [str(peers.memory)],
            "env": {"MEMORY_FILE_PATH": str(tmp / "memory.jsonl")},
        },
        "fixture": {"command": "python", "args": [str(FIXTURE)]},
    }


@dataclass
class Proc:
    """A child process whose output is drained by threads (a full pipe would block it) and kept
    for the failure message."""

    popen: subprocess.Popen[str]
    name: str
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    url: str | None = None
    _found: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start_draining(self, ready: re.Pattern[str], stream: str) -> None:
        def drain(pipe: Any, sink: list[str], watch: bool) -> None:
            for line in pipe:
                sink.append(line)
                if watch and self.url is None and (m := ready.search(line)):
                    self.url = m.group(1)
                    self._found.set()
            if watch:
                self._found.set()  # EOF: the process is gone; wait_ready reports it

        for pipe, sink, name in ((self.popen.stdout, self.out, "stdout"), (self.popen.stderr, self.err, "stderr")):
            if pipe is not None:
                thread = threading.Thread(target=drain, args=(pipe, sink, name == stream), daemon=True)
                thread.start()
                self._threads.append(thread)

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> str:
        self._found.wait(timeout)
        if self.url is None:
            self.stop()
            pytest.fail(f"{self.name} did not become ready within {timeout:.0f}s (exit {self.popen.poll()}).\n{self.log()}")
        return self.url

    def log(self) -> str:
        return f"--- {self.name} stdout ---\n{''.join(self.out)[-4000:]}\n--- {self.name} stderr ---\n{''.join(self.err)[-8000:]}"

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        # The drains end at EOF once the process (and any child holding the pipes) is gone.
        for thread in self._threads:
            thread.join(10)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class InspectorResult:
    returncode: int
    payload: dict[str, Any] | None
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        assert self.returncode == 0 and self.payload is not None and "result" in self.payload, (
            f"inspector failed (exit {self.returncode}):\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"
        )
        return self.payload["result"]

    @property
    def error(self) -> str:
        """The error message the Inspector reports (it prints a JSON error envelope)."""
        assert self.returncode != 0, f"inspector unexpectedly succeeded: {self.stdout[-2000:]}"
        return f"{self.stdout}\n{self.stderr}"

