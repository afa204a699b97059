"""`routing.learning` end to end: a real tool server (mcp-server-time), real SQLite, scripted
models that call the *second* tool they are offered. The click-through learner picks that up,
proposes versions, adopts one only once its replay of the steps it had not seen says it is not
worse, decisions then name the version and lead with the tool really used, a restarted engine
starts from it, and `mcproute policy` shows and rolls it back. Off by default: no version, no change."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from mcproute.cli import main
from mcproute.gateway.identity import ConversationIdentity
from mcproute.runtime import Engine
from mcproute.state import SqliteStore
from runtime_support import loaded_config, write_config

# The router ranks get_current_time a little above convert_time for this one; the scripted model
# calls the second tool offered, as a model that knows better would.
ASK = "what's the time difference between London and Tokyo [second]"
LEARNING = {"learning": {"enabled": True, "propose_every": 4}}


async def _steps(e: Engine, n: int, start: int = 0) -> list:
    out = []
    for i in range(start, start + n):  # one conversation per step: no stickiness in the way
        out.append(await e.run_step(ASK, identity=ConversationIdentity(f"c{i}", "argument")))
    return out


@pytest.mark.anyio
async def test_click_through_is_learned_versioned_and_survives_a_restart(tmp_path: Path) -> None:
    async with Engine(loaded_config(tmp_path, **LEARNING)) as e:
        await e.wait_settled()
        first = (await _steps(e, 1))[0]
        static_lead = first.decision.tool
        assert static_lead is not None and "+pv-" not in first.decision.policy_version
        called = [t for t in e.tool_map() if t != static_lead and t.startswith("time__")]
        await _steps(e, 15, start=1)  # 16 outcomes: versions proposed after 4, 8, 12 and 16
        assert e.learning is not None and e.learning.version is not None  # adopted by now
        last = (await _steps(e, 1, start=16))[0].decision
        assert last.policy_version.endswith(f"+{e.learning.version.id}")
        assert last.tool in called  # the tool the model really called leads now
        assert e.store is not None
        history = await e.store.list_policies()  # type: ignore[attr-defined]
    assert history and all(v.metrics["outcomes"] >= 4 for v in history)
    adopted = [v for v in history if v.status == "adopted"]
    assert adopted and all(v.metrics["tool_wins"] >= v.metrics["tool_losses"] for v in adopted)
    # A new engine on the same state starts from the version in force.
    async with Engine(loaded_config(tmp_path, **LEARNING)) as e2:
        await e2.wait_settled()
        again = (await _steps(e2, 1, start=100))[0]
        assert again.decision.policy_version.endswith(f"+{adopted[0].id}") and again.decision.tool in called
    # The CLI sees the same history and can roll back to the first version.
    cfg = write_config(tmp_path / "servers.yaml", tmp_path, **LEARNING)
    argv = ["policy", "rollback", adopted[-1].id, "--config", str(cfg), "--json"]
    assert await anyio.to_thread.run_sync(main, argv) == 0
    async with SqliteStore(tmp_path / "state.sqlite3") as store:
        current = await store.current_policy()
    assert current is not None and current.reason == f"rollback to {adopted[-1].id}"


@pytest.mark.anyio
async def test_a_step_answered_without_its_offered_tools_is_a_click_through_outcome(tmp_path: Path) -> None:
    """[text]: the model answers in words although tools were offered. The tool learner scores its
    self-check on it and, where the static ranking had said "no tool fits" too, counts a hold."""
    async with Engine(loaded_config(tmp_path, **LEARNING)) as e:
        await e.wait_settled()
        said = []
        for i, text in enumerate(["thanks, that's all for today [text]", "what time is it in Lisbon [text]"]):
            step = await e.run_step(text, identity=ConversationIdentity(f"t{i}", "argument"))
            assert step.decision.alternatives and step.result is None  # offered, none called
            said.append(step.decision.tool is None)
        tools = e.learning.tools if e.learning is not None else None
        assert tools is not None and tools.revealed == 2 and tools.steps == 0  # nothing to move up
        assert tools.holds == sum(said) and tools.misses == 0 and said == [True, False]


@pytest.mark.anyio
async def test_feedback_feeds_the_tier_learner(tmp_path: Path) -> None:
    async with Engine(loaded_config(tmp_path, learning={"enabled": True, "tools": False, "propose_every": 3})) as e:
        await e.wait_settled()
        steps = await _steps(e, 3)
        for s in steps:
            await e.feedback(s.step_id, -1.0)  # the answers were bad
        assert e.learning is not None and e.learning.tier is not None and e.learning.tier.revealed == 3
        assert e.learning.tools is None  # tools: false
        history = await e.store.list_policies()  # type: ignore[union-attr]
        assert len(history) == 1 and "tier" in history[0].state


@pytest.mark.anyio
async def test_a_cascade_teaches_the_tier_learner_that_reasoning_was_needed(tmp_path: Path) -> None:
    # [bad]: the fast model's tool call fails the tool's schema, so the step escalates at once.
    async with Engine(loaded_config(tmp_path, learning={"enabled": True, "tools": False, "propose_every": 2})) as e:
        await e.wait_settled()
        plain = await e.run_step("what time is it in Lisbon", identity=ConversationIdentity("ok", "argument"))
        assert not plain.cascaded and e.learning is not None and e.learning.tier is None  # nothing revealed
        bad = [
            await e.run_step("what time is it in Lisbon [bad]", identity=ConversationIdentity(f"b{i}", "argument"))
            for i in range(2)
        ]
        assert all(s.cascaded for s in bad)
        assert e.learning.tier is not None and e.learning.tier.revealed == 2
        assert all(g == 1.0 for g in e.learning.tier.memory.labels)  # gain +1: the fast tier was not enough
        history = await e.store.list_policies()  # type: ignore[union-attr]
        assert len(history) == 1 and history[0].metrics["outcomes"] == 2


@pytest.mark.anyio
async def test_off_by_default_nothing_is_learned_or_versioned(tmp_path: Path) -> None:
    async with Engine(loaded_config(tmp_path)) as e:
        await e.wait_settled()
        steps = await _steps(e, 6)
        assert e.learning is None and all("+pv-" not in s.decision.policy_version for s in steps)
        assert len({s.decision.tool for s in steps}) == 1  # the static choice throughout
    async with SqliteStore(tmp_path / "state.sqlite3") as store:
        assert await store.list_policies() == []
