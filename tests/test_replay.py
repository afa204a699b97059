"""Replay (docs/replay.md): the gateway keeps each step's inputs, and `mcproute replay` re-decides
them with a candidate config through the same pure `decide()`.

A real `examples/agents/react_loop.py` run (its own `mcproute serve` over HTTP, real
mcp-server-time and mcp-server-git, scripted models) is recorded once; replaying it with the same
config must reproduce every decision, and a changed threshold must move tiers the expected way.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcproute.config import load_config, parse_config
from mcproute.runtime import Engine
from mcproute.runtime.replay import Replayer, load_encoder
from mcproute.state.replay import ReplayStore
from runtime_support import config_dict
from test_examples import AGENTS, REPO, example_env, run_example, steps

OFFLINE = AGENTS / "offline.yaml"


def replay(config: Path, data_dir: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcproute",
            "replay",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--json",
            *extra,
        ],
        cwd=REPO,
        env=example_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def offline_replayer(recorded: Path, kept: ReplayStore) -> Replayer:
    """In-process replay of the recorded run with offline.yaml and the session's encoder."""
    loaded = load_config(OFFLINE, environ={"MCPROUTE_DATA_DIR": str(recorded)})
    encoder, why = load_encoder(loaded)
    assert encoder is not None, why
    return Replayer(loaded, kept, encoder=encoder)


def candidate(tmp: Path, name: str, **routing: Any) -> Path:
    """offline.yaml with `routing` keys set (the same servers, models and prices otherwise)."""
    text = OFFLINE.read_text()
    lines = "".join(f"\n  {k}: {json.dumps(v)}" for k, v in routing.items())
    assert "\nrouting:\n" in text
    path = tmp / name
    path.write_text(text.replace("\nrouting:", "\nrouting:" + lines, 1))
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, encoder: Any) -> Path:
    # `encoder` builds the session's encoder first, so the gateway decides with step vectors
    # (a cold build takes longer than the first step's wait, and the run would be lexical).
    data_dir = tmp_path_factory.mktemp("recorded")
    out = run_example("react_loop.py", "--http", data_dir=data_dir)
    assert len(steps(out)) == 5
    return data_dir


def test_replaying_the_same_config_reproduces_every_recorded_decision(recorded: Path) -> None:
    got = replay(OFFLINE, recorded)
    assert got["steps"] == 5 and got["redecided"] == 5 and got["skipped"] == 0
    assert got["identical"] == 5 and got["identical_share"] == 1.0 and got["changes"] == [], got["changes"]
    assert got["tier_share_before"] == got["tier_share_after"] and got["cost_usd_before"] == got["cost_usd_after"] > 0
    # Per step, in-process: tool, tier, model and the reasoning score itself, against the kept decision.
    kept = ReplayStore(recorded / "state.sqlite3")
    try:
        rows = kept.read_steps()
        replayer = offline_replayer(recorded, kept)
        assert len(rows) == 5
        for row in rows:
            after, skipped = replayer.redecide(row)
            assert after is not None, skipped
            assert row.vector is not None and row.text is not None  # the run was decided with the encoder
            for key in ("tool", "tier", "model", "reasoning_score", "threshold"):
                assert after[key] == row.decision[key], (row.step_id, key, after[key], row.decision[key])
        # The kept decisions are the ones the run printed and traced: the first four steps' tools.
        assert [r.decision["tool"] for r in rows][:4] == [
            "time__get_current_time",
            "time__convert_time",
            "git__git_log",
            "git__git_status",
        ]
    finally:
        kept.close_sync()


def test_a_step_decided_before_the_tool_examples_were_in_force_is_replayed_without_them(recorded: Path) -> None:
    """The gateway attaches the tool examples in a second encoding pass; a step decided before it
    (a cold cache) ranked without them, and the kept `index_taught` says so. (Replayed with them,
    the run's first step once went to convert_time where the gateway had called get_current_time.)"""
    kept = ReplayStore(recorded / "state.sqlite3")
    try:
        replayer = offline_replayer(recorded, kept)
        row = kept.read_steps()[0]
        assert "index_taught" in row.inputs  # kept with every step
        before = replace(row, inputs={**row.inputs, "index_taught": 0})
        after, skipped = replayer.redecide(before)
        assert after is not None, skipped
        without = replayer._indexes[(row.catalog_version, True, False)]
        assert without is not None and without[0].taught_count == 0 and without[0].vector_count > 0
        replayer.redecide(replace(row, inputs={**row.inputs, "index_taught": 9}))
        with_them = replayer._indexes[(row.catalog_version, True, True)]
        assert with_them is not None and with_them[0].taught_count > 0
        legacy = {k: v for k, v in row.inputs.items() if k != "index_taught"}  # kept before the field existed
        replayer.redecide(replace(row, inputs=legacy))
        assert len(replayer._indexes) == 2  # replayed with the examples, as it was before
    finally:
        kept.close_sync()


def test_a_candidate_with_tool_examples_replays_with_them(recorded: Path, tmp_path: Path) -> None:
    """Replay builds the candidate as the gateway would: its `tools.examples` shape the rebuilt
    tool vectors and its policy version names them; without any examples (shipped ones off) nothing
    changes; the reference servers' shipped examples are in force by default, as in the gateway."""
    text = OFFLINE.read_text()
    anchor = '    args: ["-m", "mcp_server_time", "--local-timezone", "UTC"]\n'
    assert anchor in text
    taught = tmp_path / "taught.yaml"
    taught.write_text(
        text.replace(
            anchor, anchor + '    tools: {examples: {get_current_time: ["are they awake in Sydney yet"]}}\n', 1
        )
    )
    kept = ReplayStore(recorded / "state.sqlite3")
    try:
        plain_loaded = load_config(OFFLINE, environ={"MCPROUTE_DATA_DIR": str(recorded)})
        encoder, why = load_encoder(plain_loaded)
        assert encoder is not None, why
        plain = Replayer(plain_loaded, kept, encoder=encoder)
        with_examples = Replayer(
            load_config(taught, environ={"MCPROUTE_DATA_DIR": str(recorded)}), kept, encoder=encoder
        )
        shipped, yours = plain.tool_examples, with_examples.tool_examples
        assert {"time__get_current_time", "time__convert_time"} <= set(shipped.rows)  # shipped, by default
        assert "+tx-" in plain.base.version
        assert set(yours.rows) == set(shipped.rows) and set(yours.means) == set(shipped.means)
        assert len(yours.rows["time__get_current_time"]) == 1  # yours replace the shipped ones tool by tool
        assert not np.array_equal(yours.means["time__get_current_time"], shipped.means["time__get_current_time"])
        assert with_examples.base.version != plain.base.version and "+tx-" in with_examples.base.version
        off = tmp_path / "off.yaml"  # every server's shipped examples off: nothing changes
        off.write_text(
            text.replace(anchor, anchor + "    tools: {shipped_examples: false}\n", 1).replace(
                "    tools:\n      # Read-only", "    tools:\n      shipped_examples: false\n      # Read-only", 1
            )
        )
        none = Replayer(load_config(off, environ={"MCPROUTE_DATA_DIR": str(recorded)}), kept, encoder=encoder)
        assert not none.tool_examples and "+tx-" not in none.base.version
        row = kept.read_steps()[0]
        after, skipped = with_examples.redecide(row)
        assert after is not None, skipped
    finally:
        kept.close_sync()


def test_a_lower_threshold_sends_steps_to_reasoning_and_a_higher_one_to_fast(recorded: Path, tmp_path: Path) -> None:
    lower = replay(candidate(tmp_path, "lower.yaml", threshold=0.01), recorded)
    higher = replay(candidate(tmp_path, "higher.yaml", threshold=0.99), recorded)
    assert lower["redecided"] == higher["redecided"] == 5
    assert lower["tier_changed_by_direction"].get("fast->reasoning", 0) > 0
    assert "reasoning->fast" not in lower["tier_changed_by_direction"]
    assert lower["tier_share_after"]["reasoning"] > lower["tier_share_before"]["reasoning"]
    assert lower["cost_usd_after"] > lower["cost_usd_before"]  # reasoning is the dearer tier in offline.yaml
    assert "fast->reasoning" not in higher["tier_changed_by_direction"]
    assert higher["tier_changed_by_direction"].get("reasoning->fast", 0) > 0
    assert higher["tier_share_after"]["reasoning"] < higher["tier_share_before"]["reasoning"]
    assert higher["cost_usd_after"] < higher["cost_usd_before"]
    # The text report says the same.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcproute",
            "replay",
            "--config",
            str(tmp_path / "lower.yaml"),
            "--data-dir",
            str(recorded),
        ],
        cwd=REPO,
        env=example_env(recorded),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"fast->reasoning: {lower['tier_changed_by_direction']['fast->reasoning']}" in done.stdout


def test_a_no_tool_threshold_near_1_takes_every_tool_away_in_replay(recorded: Path, tmp_path: Path) -> None:
    """`routing.no_tool_threshold` is a retrieval setting a candidate can change: at 0.99 no step of
    the recorded loop that changes keeps its tool: every change is a tool taken away."""
    strict = replay(candidate(tmp_path, "strict.yaml", no_tool_threshold=0.99), recorded)
    assert strict["redecided"] == 5 and strict["tool_changed"] > 0
    assert all(c["after"]["tool"] is None for c in strict["changes"])
    assert all(c["before"]["tool"] is not None for c in strict["changes"] if c["before"]["tool"] != c["after"]["tool"])


def test_cascade_carries_a_changed_tier_into_the_next_step(recorded: Path, tmp_path: Path) -> None:
    same = replay(OFFLINE, recorded, "--cascade")
    assert same["redecided"] == 5 and same["identical"] == 5  # nothing changed, so nothing is carried
    higher = candidate(tmp_path, "higher.yaml", threshold=0.99)
    alone, carried = replay(higher, recorded), replay(higher, recorded, "--cascade")
    # Per step, the recorded reasoning state holds step 2 on reasoning; carried, step 1's fast tier
    # is what step 2 starts from, so at least as many steps move to fast.
    assert carried["tier_changed_by_direction"].get("reasoning->fast", 0) > alone["tier_changed_by_direction"].get(
        "reasoning->fast", 0
    )
    assert "fast->reasoning" not in carried["tier_changed_by_direction"]


def test_replay_filters_by_conversation_and_time(recorded: Path) -> None:
    assert replay(OFFLINE, recorded, "--conversation", "no-such-conversation")["steps"] == 0
    assert replay(OFFLINE, recorded, "--since", "2999-01-01")["steps"] == 0
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcproute",
            "replay",
            "--config",
            str(OFFLINE),
            "--data-dir",
            str(recorded),
            "--since",
            "yesterday",
        ],
        cwd=REPO,
        env=example_env(recorded),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "--since 'yesterday' is not an ISO 8601 time" in done.stderr
    missing = recorded / "nowhere" / "state.sqlite3"
    done = subprocess.run(
        [sys.executable, "-m", "mcproute", "replay", "--config", str(OFFLINE), "--state", str(missing)],
        cwd=REPO,
        env=example_env(recorded),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and f"no state file at {missing}" in done.stderr and not missing.parent.exists()


# ---------------------------------------------------------------- keep: hashes, retention (in-process engine)

SECRET = "Tell me the quokka-7731 password reset steps"


async def _route_steps(tmp_path: Path, texts: list[str], **replay_cfg: Any) -> Path:
    cfg = config_dict(tmp_path, servers={}, encoder={"enabled": False})
    cfg["replay"] = replay_cfg
    loaded = parse_config(json.dumps(cfg), environ={})
    async with Engine(loaded) as e:
        ident = e.identity(arguments={"conversation_id": "c-replay"})
        for text in texts:
            await e.route(text, identity=ident, dry_run=False)
        assert e.store is not None
        await e.store.delete("c-replay")  # the conversation's own state keeps recent texts (multi-turn retrieval)
    path = tmp_path / "state.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")  # deleted pages are rewritten, so only live rows remain in the file
    conn.close()
    return path


@pytest.mark.anyio
@pytest.mark.parametrize("keep", ["full", "hashes"])
async def test_keep_hashes_stores_no_step_text_and_replay_counts_those_steps_as_skipped(
    tmp_path: Path, keep: str
) -> None:
    path = await _route_steps(tmp_path, [SECRET, "what time is it in Paris?"], keep=keep)
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("state.sqlite3*"))
    assert (b"quokka-7731" in blob) == (keep == "full")
    kept = ReplayStore(path)
    try:
        rows = kept.read_steps()
        assert len(rows) == 2 and all(len(r.text_sha256) == 64 for r in rows)
        loaded = parse_config(json.dumps(config_dict(tmp_path, servers={}, encoder={"enabled": False})), environ={})
        report = Replayer(loaded, kept).run(rows).to_dict()
    finally:
        kept.close_sync()
    if keep == "hashes":
        assert report["redecided"] == 0 and report["skipped_by_reason"] == {"text not kept (replay.keep: hashes)": 2}
    else:
        assert report["redecided"] == 2 and report["identical"] == 2 and report["skipped"] == 0


@pytest.mark.anyio
async def test_keep_off_keeps_nothing(tmp_path: Path) -> None:
    path = await _route_steps(tmp_path, [SECRET], keep="off")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'replay_steps'").fetchone() is None
    finally:
        conn.close()


@pytest.mark.anyio
async def test_max_steps_keeps_only_the_newest(tmp_path: Path) -> None:
    texts = [f"step number {i}: what time is it in city {i}?" for i in range(5)]
    path = await _route_steps(tmp_path, texts, max_steps=2)
    kept = ReplayStore(path)
    try:
        assert [r.text for r in kept.read_steps()] == texts[-2:]
    finally:
        kept.close_sync()


@pytest.mark.anyio
async def test_max_age_drops_old_steps_and_their_unreferenced_catalogues(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = ReplayStore(tmp_path / "r.sqlite3", max_age_days=1.0, clock=lambda: now[0])

    def row(step_id: str, version: str) -> dict[str, Any]:
        return {
            "step_id": step_id,
            "conversation_id": "c",
            "text": "t",
            "text_sha256": "0" * 64,
            "vector": None,
            "inputs": "{}",
            "state": None,
            "catalog_version": version,
            "tool": None,
            "tier": "fast",
            "model": "m",
            "decision": "{}",
            "usage": None,
        }

    try:
        await store.keep(row("old", "v1"), ("v1", [{"name": "a__x"}]))
        now[0] += 2 * 86400.0  # two days later: "old" is past max_age_days
        await store.keep(row("new", "v2"), ("v2", [{"name": "a__y"}]))
        assert [r.step_id for r in store.read_steps()] == ["new"]
        assert store.catalog("v1") is None and store.catalog("v2") == [{"name": "a__y"}]
        now[0] += 2 * 86400.0
        assert await store.prune() == 1 and store.count() == 0
    finally:
        await store.close()


@pytest.mark.anyio
async def test_feedback_rewards_give_quality_before_and_after(tmp_path: Path) -> None:
    cfg = config_dict(tmp_path, servers={}, encoder={"enabled": False})
    loaded = parse_config(json.dumps(cfg), environ={})
    texts = [
        "what time is it?",
        "Prove rigorously, step by step, that the square root of 2 is irrational; derive each case",
        "thanks",
        "Derive, step by step, the closed form of the sum of the first n cubes and prove it by induction",
    ]
    rewards = [1.0, 0.5, -0.5, 0.0]
    async with Engine(loaded) as e:
        for i, (text, reward) in enumerate(zip(texts, rewards, strict=True)):
            d = await e.route(text, identity=e.identity(arguments={"conversation_id": f"c{i}"}), dry_run=False)
            await e.feedback(d.step_id, reward)
    kept = ReplayStore(tmp_path / "state.sqlite3")
    try:
        rows = kept.read_steps()
        assert [r.reward for r in rows] == rewards
        same = Replayer(loaded, kept).run(rows).to_dict()
        assert same["identical"] == 4 and same["rated_steps"] == same["rated_steps_after"] == 4
        assert same["mean_reward_before"] == same["mean_reward_after"] == round(sum(rewards) / 4, 4)
        tiers = [r.decision["tier"] for r in rows]
        assert set(tiers) == {"fast", "reasoning"}, tiers  # both tiers rated, so a changed step has an estimate
        # Everything to reasoning: each changed step counts the recorded mean reward of reasoning steps.
        everything = parse_config(json.dumps({**cfg, "routing": {**cfg["routing"], "threshold": 0.0}}), environ={})
        moved = Replayer(everything, kept).run(rows).to_dict()
        reasoning = [r for r, t in zip(rewards, tiers, strict=True) if t == "reasoning"]
        assert moved["tier_share_after"]["reasoning"] == 1.0 and moved["rated_steps_after"] == 4
        assert moved["mean_reward_after"] == round(sum(reasoning) / len(reasoning), 4)
    finally:
        kept.close_sync()


def test_with_redis_state_the_replay_log_is_shared_and_replays_every_decision(
    tmp_path: Path, encoder: Any, redis_server: Any
) -> None:
    """state.backend: redis: a real gateway run keeps its steps' inputs in Redis (no SQLite file at
    all), and `mcproute replay` with the same config reads them from there and reproduces each."""
    config = tmp_path / "redis.yaml"
    prefix = redis_server.fresh_prefix()
    config.write_text(
        OFFLINE.read_text() + f"\nstate:\n  backend: redis\n  url: {redis_server.url}\n  key_prefix: {prefix!r}\n"
    )
    data_dir = tmp_path / "data"
    out = run_example("react_loop.py", "--http", "--config", str(config), data_dir=data_dir)
    assert len(steps(out)) == 5
    assert not (data_dir / "state.sqlite3").exists()
    got = replay(config, data_dir)
    assert got["state_file"].startswith("Redis (")
    assert got["steps"] == 5 and got["redecided"] == 5 and got["identical"] == 5 and got["changes"] == []
