"""Configs and helpers shared by the runtime tests: real tool servers, scripted models."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from mcproute.config import LoadedConfig, parse_config

TESTS = Path(__file__).parent
FIXTURE = str(TESTS / "fixtures" / "gateway_fixture_server.py")
HARD = ("Carefully prove, step by step and with a rigorous derivation of every edge case, why converting the current "
        "time between timezones across a daylight saving transition can go wrong, then get the current time in UTC")
EASY = "what time is it now in UTC"


def config_dict(data_dir: str | Path, *, backend: str = "sqlite", servers: dict[str, Any] | None = None,
                expose: str = "all", **routing: Any) -> dict[str, Any]:
    return {
        "data_dir": str(data_dir),
        "servers": servers if servers is not None else {
            "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        },
        "models": {
            "quick": {"tier": "fast", "provider": "scripted", "script": "runtime_scripts:fast",
                      "price": {"input": 0.1, "output": 0.4}},
            "deep": {"tier": "reasoning", "provider": "scripted", "script": "runtime_scripts:deep",
                     "price": {"input": 3.0, "output": 15.0}},
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
