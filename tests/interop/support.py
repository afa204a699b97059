"""Paths, process helpers and config entries shared by the interop tests (fixtures live in conftest)."""

from __future__ import annotations

import json
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
            pytest.fail(
                f"{self.name} did not become ready within {timeout:.0f}s (exit {self.popen.poll()}).\n{self.log()}"
            )
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


# ------------------------------------------------------------------------------------ conformance

_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass(frozen=True)
class ConformanceReport:
    """What `conformance server --suite all -o DIR` found: per scenario, its checks' statuses.

    The runner writes one `server-<scenario>-<timestamp>/checks.json` per scenario (a list of
    checks with `status` SUCCESS / FAILURE / WARNING / INFO); a scenario passes when none of its
    checks is a FAILURE, which is the runner's own rule for its exit code."""

    scenarios: dict[str, list[dict[str, Any]]]
    log: str

    def passed(self) -> set[str]:
        return {s for s, checks in self.scenarios.items() if not any(c.get("status") == "FAILURE" for c in checks)}

    def failed(self) -> set[str]:
        return set(self.scenarios) - self.passed()

    def checks_passed(self) -> int:
        return sum(1 for checks in self.scenarios.values() for c in checks if c.get("status") == "SUCCESS")

    def checks_total(self) -> int:
        return sum(1 for checks in self.scenarios.values() for c in checks if c.get("status") in ("SUCCESS", "FAILURE"))

    def why(self, scenario: str) -> str:
        return "; ".join(
            f"{c.get('id')}: {c.get('errorMessage') or c.get('description')}"
            for c in self.scenarios.get(scenario, [])
            if c.get("status") == "FAILURE"
        )

    def summary(self) -> str:
        return (
            f"{len(self.passed())}/{len(self.scenarios)} scenarios, {self.checks_passed()}/{self.checks_total()} checks"
        )


def run_conformance(peers: Peers, url: str, out: Path, timeout: float = 300) -> ConformanceReport:
    """Runs the official server conformance suite (every scenario, `--suite all`) against `url`."""
    cmd = [str(peers.node), str(peers.conformance), "server", "--url", url, "--suite", "all", "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=out.parent)
    log = f"$ {' '.join(cmd)}\n(exit {proc.returncode})\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    scenarios: dict[str, list[dict[str, Any]]] = {}
    for d in sorted(out.iterdir()) if out.exists() else []:
        m = _RESULT_DIR.match(d.name)
        if m and (d / "checks.json").exists():
            scenarios[m.group("scenario")] = json.loads((d / "checks.json").read_text())
    if not scenarios:
        pytest.fail(f"the conformance runner wrote no results:\n{log}")
    return ConformanceReport(scenarios, log)


def run_inspector(peers: Peers, home: Path, *args: str, timeout: float = 120) -> InspectorResult:
    """The MCP Inspector in CLI mode (a real third-party client), JSON output. Its catalogue and
    config files go to `home` (a temp HOME) so nothing is written to ~. Used by the interop
    fixture `inspector` and by tests/test_scaleout_lb.py."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
        "NO_COLOR": "1",
    }
    if "--config" not in args:  # its writable catalogue and a read-only `--config` file are exclusive
        env["MCP_CATALOG_PATH"] = str(home / "mcp.json")
    cmd = [str(peers.node), str(peers.inspector), "--cli", *args, "--format", "json", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    payload: dict[str, Any] | None = None
    for text in (proc.stdout, proc.stderr):
        try:
            payload = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
        except (json.JSONDecodeError, IndexError):
            payload = None
        if payload is not None:
            break
    return InspectorResult(proc.returncode, payload, proc.stdout, proc.stderr)
