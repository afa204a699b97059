"""`mcproute route TEXT --json`: the decision for one step against a real catalogue, as a dry run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime_support import EASY, HARD, child_env, write_config


def _route(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcproute", "route", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )


def test_route_prints_the_decision_and_changes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    easy = _route(config, EASY, "--json")
    assert easy.returncode == 0, easy.stderr
    d = json.loads(easy.stdout)
    assert d["tool"].startswith("time__") and d["tier"] == "fast" and d["model"] == "quick"
    assert d["alternatives"][0]["name"] == d["tool"] and d["reason"] and d["policy_version"]

    hard = json.loads(_route(config, HARD, "--json", "--conversation", "c-1").stdout)
    assert hard["tier"] == "reasoning" and hard["conversation_id"] == "c-1"
    # A dry run: the same conversation routed again is still a new conversation.
    again = json.loads(_route(config, EASY, "--json", "--conversation", "c-1").stdout)
    assert again["tier"] == "fast"

    text = _route(config, EASY, "--tier", "reasoning")
    assert text.returncode == 0 and "tier reasoning" in text.stdout and "why:" in text.stdout


def test_route_refuses_a_bad_conversation_id_and_an_empty_step(tmp_path: Path) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    bad = _route(config, EASY, "--conversation", "no spaces allowed")
    assert bad.returncode == 2 and "conversation" in bad.stderr.lower()
    empty = _route(config, "   ")
    assert empty.returncode == 2 and "error:" in empty.stderr
