"""`mcproute policy show|history|rollback`: over a real SQLite state file and a Redis store."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import numpy as np
import pytest

from mcproute.cli import main
from mcproute.router.online_tools import ToolLearner
from mcproute.state import SqliteStore
from mcproute.state.policies import PolicyVersion, make
from mcproute.state.redis_store import RedisStore
from redis_fixture import RedisServer
from runtime_support import config_dict


def _versions() -> list[PolicyVersion]:
    learner = ToolLearner.start(8)
    rng = np.random.default_rng(0)
    for i in range(4):
        learner = learner.learn(rng.standard_normal(8), f"fx__t{i % 2}")
    v1 = make(None, 1_000.0, "learned from 4 clicks", "adopted", {"tools": learner.to_dict()}, {"replay_top1": 0.5})
    v2 = make(v1.id, 2_000.0, "replay: worse than v1", "rejected", {"tools": learner.to_dict()}, {})
    v3 = make(v1.id, 3_000.0, "learned from 9 clicks", "adopted", {}, {"replay_top1": 0.6})
    return [v1, v2, v3]


def _out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _exercise(capsys: pytest.CaptureFixture[str], base: list[str], v1: PolicyVersion, v3: PolicyVersion) -> None:
    hist = _out(capsys, ["policy", "history", *base, "--json"])
    assert hist["current"] == v3.id and [v["status"] for v in hist["versions"]] == ["adopted", "rejected", "adopted"]
    assert _out(capsys, ["policy", "show", *base, "--json"])["version"]["id"] == v3.id
    shown = _out(capsys, ["policy", "show", v1.id, *base, "--json"])["version"]
    assert shown["learners"]["tools"]["memory"] == 4 and shown["metrics"] == {"replay_top1": 0.5}
    assert shown["learners"]["tools"]["weights"]["score_gap"] == 1.0  # learned without rankings: the static order
    assert main(["policy", "show", v1.id, *base]) == 0  # as a person reads it: a row per thing learned
    text = capsys.readouterr().out
    assert "4 outcomes, 4 remembered" in text and "vote 0 wins 0 losses" in text
    assert "followed by a tool call 0, by none 0: a vote of 0.60 overrides it" in text
    back = _out(capsys, ["policy", "rollback", v1.id, *base, "--json"])
    assert back["version"]["parent"] == v3.id and back["version"]["reason"] == f"rollback to {v1.id}"
    hist = _out(capsys, ["policy", "history", *base, "--json"])
    assert hist["current"] == back["current"] and len(hist["versions"]) == 4
    assert main(["policy", "history", *base]) == 0
    text = capsys.readouterr().out
    assert f"rollback to {v1.id}" in text and "rejected" in text
    assert main(["policy", "rollback", "pv-0000000000", *base]) == 2
    assert "no policy version 'pv-0000000000' to roll back to" in capsys.readouterr().err
    assert main(["policy", "rollback", *base]) == 2
    assert "rollback needs the VERSION" in capsys.readouterr().err


def test_policy_commands_on_a_sqlite_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    versions = _versions()

    async def write() -> None:
        async with SqliteStore(tmp_path / "data" / "state.sqlite3") as store:
            for v in versions:
                await store.record_policy(v)

    (tmp_path / "data").mkdir()
    cfg = tmp_path / "servers.yaml"
    cfg.write_text(json.dumps(config_dict(tmp_path / "data")))
    base = ["--config", str(cfg)]
    assert main(["policy", "show", *base]) == 2  # no state file yet: said, not created
    assert "no state file" in capsys.readouterr().err
    anyio.run(SqliteStore(tmp_path / "data" / "state.sqlite3").close)  # an empty store: nothing learned yet
    assert _out(capsys, ["policy", "show", *base, "--json"]) == {"current": None, "version": None}
    anyio.run(write)
    _exercise(capsys, base, versions[0], versions[2])


def test_policy_commands_on_redis(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    versions = _versions()
    prefix = redis_server.fresh_prefix()

    async def write() -> None:
        async with RedisStore(redis_server.url, prefix=prefix) as store:
            for v in versions:
                await store.record_policy(v)

    anyio.run(write)
    cfg_dict = config_dict(tmp_path / "data", backend="redis")
    cfg_dict["state"] = {**cfg_dict.get("state", {}), "backend": "redis", "url": redis_server.url, "key_prefix": prefix}
    cfg = tmp_path / "servers.yaml"
    cfg.write_text(json.dumps(cfg_dict))
    _exercise(capsys, ["--config", str(cfg)], versions[0], versions[2])
