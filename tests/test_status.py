"""`mcproute tools` shows models; `--url` shows a running gateway's live circuits (`GET /status`)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from mcproute.cli import main as cli_main
from runtime_support import EASY, config_dict, serve_http


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here any more: connections are refused
    return port


def test_tools_lists_models_with_the_missing_variable(tmp_path: Path) -> None:
    cfg = config_dict(tmp_path / "data")
    cfg["models"]["keyed"] = {
        "tier": "fast",
        "provider": "openai",
        "model": "gpt-x",
        "api_key": "${MCPROUTE_TEST_NO_SUCH_KEY}",
    }
    path = tmp_path / "servers.yaml"
    path.write_text(json.dumps(cfg))
    out = subprocess.run(
        [sys.executable, "-m", "mcproute", "tools", "--config", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parent)},
    )
    report = json.loads(out.stdout)
    keyed = next(m for m in report["models"] if m["name"] == "keyed")
    assert keyed["state"] == "unavailable" and "MCPROUTE_TEST_NO_SUCH_KEY" in keyed["reason"]
    assert {m["name"] for m in report["models"]} == {"quick", "deep", "keyed"}


@pytest.mark.anyio
async def test_live_status_shows_an_open_circuit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_dict(tmp_path / "data", backend="memory")
    # The cheapest fast model points at a port where nothing listens; the scripted one backs it up.
    cfg["models"]["broken"] = {
        "tier": "fast",
        "provider": "openai",
        "model": "gpt-down",
        "api_key": "sk-test-not-real",
        "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
        "price": {"input": 0.01, "output": 0.01},
    }
    cfg["reliability"].update({"breaker_failures": 2, "breaker_cooldown": 600})
    cfg["cache"] = {"enabled": False}  # each step must reach the broken model (a repeat would be a cache hit)
    path = tmp_path / "servers.yaml"
    path.write_text(json.dumps(cfg))
    async with serve_http(path) as (_, url), Client(url, mode="legacy") as client:
        for i in range(3):
            result = await client.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": f"c{i}"})
            assert not result.is_error, result.content
        base = url.removesuffix("/mcp")
        capsys.readouterr()
        assert cli_main(["tools", "--config", str(path), "--url", base, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        broken = next(m for m in report["models"] if m["name"] == "broken")
        assert broken["state"] == "down"
        (dep,) = broken["deployments"]
        assert dep["circuit"] == "open" and dep["consecutive_failures"] >= 2 and dep["probe_in"] > 0
        assert "sk-test-not-real" not in json.dumps(report)
        assert report["servers"]["time"]["state"] == "healthy"

        assert cli_main(["tools", "--config", str(path), "--url", base]) == 0
        text = capsys.readouterr().out
        assert "broken#0" in text and "open" in text and "connection_error" in text
