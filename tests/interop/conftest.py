"""Fixtures for the interop tests: real third-party peers and clients against a real gateway.

Everything here runs real processes on loopback: `mcproute serve` as a subprocess, the Node
reference servers and the MCP Inspector / conformance suite from `.peers/` (installed by
`scripts/install-peers.sh`, which `make test` runs first). If a peer cannot be installed the tests
FAIL with the installer's output — they never skip: CI must notice a missing peer.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import FIXTURE, READY_LINE, REPO, SERVING_LINE, InspectorResult, Peers, Proc, python_env, run_inspector


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def peers() -> Peers:
    """Runs the (idempotent, ~instant when up to date) installer, then insists every peer is there."""
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-peers.sh")], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/install-peers.sh failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    p = Peers()
    missing = [str(f) for f in p.all() if not f.exists()]
    if missing:
        pytest.fail(f"interop peers missing after scripts/install-peers.sh: {missing}")
    return p


# ------------------------------------------------------------------------------------ configs


@pytest.fixture(scope="module")
def interop_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interop")


@pytest.fixture(scope="module")
def write_config(interop_tmp: Path) -> Callable[..., Path]:
    """`write_config(servers, **gateway_section) -> path` of a servers.yaml in a temp dir, with its
    state and traces kept in that dir too (nothing leaks into the repo). Module-scoped so that a
    module can share one gateway across its tests (starting Node servers is the slow part)."""
    counter = iter(range(1000))
    tmp_path = interop_tmp

    def write(servers: dict[str, dict[str, Any]], **gateway: Any) -> Path:
        cfg: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "state": {"backend": "memory"},
            "telemetry": {"exporter": "none"},
            "servers": servers,
        }
        if gateway:
            cfg["gateway"] = gateway
        path = tmp_path / f"servers-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    return write


# ------------------------------------------------------------------------------------ processes


@pytest.fixture(scope="module")
def mcproute_http() -> Iterator[Callable[..., Proc]]:
    """`mcproute_http(config_path, *extra_args) -> Proc` with `.url` = the gateway's /mcp URL.
    Runs `python -m mcproute serve --transport http --port 0` and waits for its "serving <url>" line."""
    started: list[Proc] = []

    def start(config: Path, *extra: str) -> Proc:
        cmd = [
            sys.executable,
            "-m",
            "mcproute",
            "serve",
            "--config",
            str(config),
            "--transport",
            "http",
            "--port",
            "0",
            *extra,
        ]
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=python_env(),
        )
        proc = Proc(popen, "mcproute serve")
        started.append(proc)
        proc.start_draining(SERVING_LINE, "stderr")
        proc.wait_ready()
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def fixture_http() -> Iterator[Proc]:
    """The conformance fixture served directly over streamable HTTP on a free loopback port."""
    popen = subprocess.Popen(
        [sys.executable, str(FIXTURE), "--http", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    proc = Proc(popen, "conformance fixture")
    proc.start_draining(READY_LINE, "stdout")
    proc.wait_ready()
    yield proc
    proc.stop()


# ------------------------------------------------------------------------------------ clients


@pytest.fixture(scope="module")
def inspector(peers: Peers, interop_tmp: Path) -> Callable[..., InspectorResult]:
    """`inspector(*args) -> InspectorResult`: the MCP Inspector in CLI mode (a real third-party
    client), JSON output. Its catalogue/config files go to a temp HOME so nothing is written to ~."""
    home = interop_tmp / "inspector-home"

    def run(*args: str, timeout: float = 120) -> InspectorResult:
        return run_inspector(peers, home, *args, timeout=timeout)

    return run


# ------------------------------------------------------------------------------------ reporting

_CONFORMANCE = pytest.StashKey[list[tuple[str, str]]]()


@pytest.fixture(scope="session")
def record_conformance(pytestconfig: pytest.Config) -> Callable[[str, Any], None]:
    """Keeps each conformance run's pass counts for the terminal summary (CI logs show them)."""
    runs = pytestconfig.stash.setdefault(_CONFORMANCE, [])

    def record(label: str, report: Any) -> None:
        runs.append((label, report.summary()))

    return record


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    runs = config.stash.get(_CONFORMANCE, [])
    if runs:
        terminalreporter.section("MCP conformance suite (scenarios passed / run)")
        for label, summary in runs:
            terminalreporter.write_line(f"{label}: {summary}")
