"""The Engine in process: a real tool server (mcp-server-time), real SQLite, scripted models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcproute.errors import InvalidConversationId, InvalidRequest, UnknownStep
from mcproute.gateway.identity import ConversationIdentity
from mcproute.runtime import Engine
from mcproute.runtime.calibration import MAX_SHIFT, MIN_RATED
from runtime_support import EASY, HARD, loaded_config


@asynccontextmanager
async def engine(tmp_path: Path, **kw: Any) -> AsyncIterator[Engine]:
    async with Engine(loaded_config(tmp_path, **kw)) as e:
        await e.wait_settled()  # decide as a warm gateway does: step vectors and tier examples in force
        yield e


def conv(cid: str) -> ConversationIdentity:
    return ConversationIdentity(cid, "argument")


@pytest.mark.anyio
async def test_a_loop_of_tool_calling_steps_steps_down_after_k(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:  # routing.step_down_after = 2
        c = conv("loop")
        first = await e.run_step(HARD, identity=c)
        assert (first.tier, first.model) == ("reasoning", "deep") and first.tool is not None and not first.is_error
        assert "UTC" in first.result_text()
        # Every step calls a tool, and run_step executes it and returns its result: each call is
        # closed within its step, so easy steps count towards stepping down.
        one = await e.run_step(EASY, identity=c)
        assert one.tier == "reasoning" and one.tool is not None
        assert one.decision.sticky_reason.startswith("kept reasoning: 1 of 2 confident fast steps needed to step down")
        assert "awaiting" not in one.decision.sticky_reason and "awaiting" not in one.decision.reason
        down = await e.run_step(EASY, identity=c)
        assert (down.tier, down.model) == ("fast", "quick") and down.tool is not None and not down.is_error
        assert not down.decision.sticky_held and "stepped down to fast after 2" in down.decision.sticky_reason
        state = await e.store.load("loop")  # type: ignore[union-attr]
        assert state is not None and state.tier == "fast" and state.step_count == 3 and not state.awaiting_tool_result
        assert state.tools_used and all(t.startswith("time__") for t in state.tools_used)


@pytest.mark.anyio
async def test_a_tool_call_left_to_the_client_freezes_the_tier_until_its_result_comes_back(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        c = conv("pending")
        await e.run_step(HARD, identity=c)
        # `complete` hands the model's tool call to the client: it is open until the client answers.
        decision, chat = await e.complete([{"role": "user", "content": EASY}], identity=c, tools="mcp")
        assert decision.tier == "reasoning" and chat.response.tool_calls
        held = await e.route(EASY, identity=c)
        assert held.tier == "reasoning" and "a tool call is awaiting its result" in held.sticky_reason
        assert "awaiting its result" in held.reason  # the reason names what held the tier, not the score's pick


@pytest.mark.anyio
async def test_schema_invalid_fast_tool_call_escalates_and_is_recorded(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        c = conv("cascade")
        step = await e.run_step(EASY + " [bad]", identity=c)
        assert step.cascaded and step.tier == "reasoning" and step.model == "deep"
        assert "quick's tool call was invalid" in step.cascade_reason and "fail its schema" in step.cascade_reason
        assert step.tool is not None and not step.is_error and step.result is not None  # the reasoning model's call ran
        assert step.decision.signals.get("cascade") == 1.0 and not step.decision.sticky_held
        # Two attempts: the fast model's, then the reasoning model's.
        assert [a.model for a in step.attempts] == ["quick", "deep"]
        state = await e.store.load("cascade")  # type: ignore[union-attr]
        assert state is not None and state.tier == "reasoning"
        record = await e.store.get_step(step.step_id)  # type: ignore[union-attr]
        assert record is not None and record.decision["cascaded"] is True and record.tier == "reasoning"


@pytest.mark.anyio
async def test_model_calling_a_nonexistent_tool(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        # Both tiers invent a tool: cascaded once, then refused; nothing runs downstream.
        step = await e.run_step(EASY + " [ghost!]", identity=conv("ghost"))
        assert step.cascaded and step.is_error and step.result is None and step.tool is None
        assert "unknown tool 'nowhere__nothing'" in step.validation_error
        state = await e.store.load("ghost")  # type: ignore[union-attr]
        assert state is not None and state.tool_errors == 1 and "nowhere__nothing" not in state.tools_used
        # Through the meta-tool it is a readable tool error, not a crash.
        out = await e.gateway.call_tool("mcproute__run_step", {"text": EASY + " [ghost!]", "conversation_id": "ghost"})
        assert out["isError"] and "nowhere__nothing" in out["content"][0]["text"]


@pytest.mark.anyio
async def test_the_summary_says_when_the_model_called_other_than_the_rankings_first(tmp_path: Path) -> None:
    """The model chooses among the tools it is offered; the step's one-line summary must not read
    as if the ranking had chosen what the model called."""
    async with engine(tmp_path) as e:
        second = await e.run_step("what's the time difference between London and Tokyo [second]", identity=conv("s"))
        assert second.tool is not None and second.decision.tool is not None and second.tool != second.decision.tool
        assert f"called {second.tool} (the ranking's first was {second.decision.tool})" in second.summary()
        chat = await e.run_step("thanks, that's all for today", identity=conv("t"))
        assert chat.decision.tool is None and chat.tool is not None  # the scripted model calls what it is offered
        assert f"called {chat.tool} although the ranking found no tool that fits" in chat.summary()
        words = await e.run_step("what's the time difference between London and Tokyo [text]", identity=conv("w"))
        assert words.tool is None and words.decision.tool is not None
        assert f"answered without a tool (the ranking's first was {words.decision.tool})" in words.summary()
        first = await e.run_step(EASY, identity=conv("f"))
        assert first.tool == first.decision.tool and "ranking" not in first.summary().split(". ")[0]


@pytest.mark.anyio
async def test_the_model_is_told_when_the_router_found_no_tool(tmp_path: Path) -> None:
    """The tools are still offered (the router can be wrong), but the gateway's system message says
    what the router found, so a model that heeds it answers in words; a client's own system
    message is left as it is."""
    async with engine(tmp_path) as e:
        chat = await e.run_step("thanks, that's all for today [heed]", identity=conv("t"))
        assert chat.decision.tool is None and chat.tool is None and chat.text.startswith("done:")
        fits = await e.run_step(EASY + " [heed]", identity=conv("f"))
        assert fits.decision.tool is not None and fits.tool == fits.decision.tool
        own = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "thanks, bye [heed]"}]
        theirs = await e.run_step("thanks, bye [heed]", identity=conv("o"), messages=own)
        assert theirs.decision.tool is None and theirs.tool is not None  # not told: it calls what it is offered


@pytest.mark.anyio
async def test_routing_no_tool_threshold_moves_the_no_tool_verdict(tmp_path: Path) -> None:
    """An agent backend where nearly every message needs a tool can ask for tools sooner: "is it
    late in Tokyo" fits a time tool with P(fit) about 0.4, under the shipped 0.55."""
    ask = "is it late in Tokyo"
    async with engine(tmp_path / "shipped") as e:
        shipped = await e.route(ask, identity=conv("a"))
        assert "+nt" not in e.index.params.version
    async with engine(tmp_path / "lower", no_tool_threshold=0.3) as e:
        lower = await e.route(ask, identity=conv("a"))
        assert e.index.params.no_tool_threshold == 0.3 and e.index.params.version.endswith("+nt0.3")
    assert shipped.tool is None and lower.tool == "time__get_current_time"
    assert "no tool fits this step (P(fit) 0.4" in shipped.reason and "< 0.55)" in shipped.reason  # where it fell short


@pytest.mark.anyio
async def test_two_conversations_never_see_each_others_state(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        hard = await e.run_step(HARD, identity=conv("a"))
        easy = await e.run_step(EASY + " [text]", identity=conv("b"))
        assert hard.tier == "reasoning" and easy.tier == "fast"
        again = await e.run_step(EASY + " [text]", identity=conv("b"))
        assert again.tier == "fast" and "new conversation" not in again.decision.sticky_reason
        a, b = await e.store.load("a"), await e.store.load("b")  # type: ignore[union-attr]
        assert a is not None and b is not None
        assert (a.tier, a.step_count, b.tier, b.step_count) == ("reasoning", 1, "fast", 2)
        assert a.tools_used and not b.tools_used and a.recent_texts != b.recent_texts
        # A dry run changes nothing.
        await e.route(HARD, identity=conv("b"))
        assert await e.store.load("b") == b  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_two_clients_racing_on_one_conversation_are_serialised(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        results: list[Any] = []

        async def one(text: str) -> None:
            results.append(await e.run_step(text, identity=conv("race")))

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(one, f"{EASY} [text] #{i}")
        state = await e.store.load("race")  # type: ignore[union-attr]
        assert state is not None and state.step_count == 4  # no update lost
        assert state.last_step_id in {r.step_id for r in results}
        for r in results:
            assert await e.store.get_step(r.step_id) is not None  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_bad_conversation_ids_are_refused_with_the_reason(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        with pytest.raises(InvalidConversationId, match="129 characters long; the limit is 128"):
            e.identity(arguments={"conversation_id": "x" * 129})
        with pytest.raises(InvalidConversationId, match=r"invalid character ' ' at position 3"):
            e.identity(meta={"mcproute/conversation_id": "abc def"})
        out = await e.gateway.call_tool("mcproute__route", {"text": EASY, "conversation_id": "a/b"})
        assert out["isError"] and "invalid character '/'" in out["content"][0]["text"]
        with pytest.raises(InvalidRequest, match="fail its input schema"):
            await e.gateway.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": "y" * 300})
        with pytest.raises(InvalidRequest, match="step text is empty"):
            await e.run_step("   ", identity=conv("ok"))
        assert await e.store.list_conversations() == []  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_feedback_unknown_step_and_bounded_calibration_shift(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        with pytest.raises(UnknownStep, match="no step 's-nope'"):
            await e.feedback("s-nope", 1.0)
        out = await e.gateway.call_tool("mcproute__feedback", {"step_id": "s-nope", "reward": 1})
        assert out["isError"] and "no step 's-nope'" in out["content"][0]["text"]
        base = e.calibration.threshold
        steps = [await e.run_step(EASY + " [text]", identity=conv(f"f{i}")) for i in range(MIN_RATED)]
        assert all(s.tier == "fast" for s in steps)
        for s in steps[:-1]:
            await e.feedback(s.step_id, -1.0)
        assert e.calibration.threshold == base  # too few rated fast steps: no shift yet
        out = await e.gateway.call_tool(
            "mcproute__feedback",
            {"step_id": steps[-1].step_id, "reward": -1, "conversation_id": steps[-1].conversation_id},
        )
        assert not out["isError"]
        shifted = out["structuredContent"]
        # Badly rated fast steps lower the threshold (more escalation), by at most MAX_SHIFT.
        assert base - MAX_SHIFT - 1e-9 <= shifted["threshold"] < base
        assert "+fb-" in shifted["policy_version"] and shifted["policy_version"].startswith(e.calibration.version)
        nxt = await e.route(EASY, identity=conv("after"))  # the reply names the version the next decisions carry
        assert nxt.threshold == e.calibration.threshold and nxt.policy_version == shifted["policy_version"]
        # A reward for another conversation's step is refused before it is stored.
        wrong = await e.gateway.call_tool(
            "mcproute__feedback", {"step_id": steps[0].step_id, "reward": 1, "conversation_id": "other"}
        )
        assert wrong["isError"] and "does not belong to conversation 'other'" in wrong["content"][0]["text"]


@pytest.mark.anyio
async def test_proxied_calls_count_in_their_conversation(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        meta = {"mcproute/conversation_id": "px"}
        ok = await e.gateway.call_tool("time__get_current_time", {"timezone": "UTC"}, meta=meta)
        assert not ok.get("isError")
        state = await e.store.load("px")  # type: ignore[union-attr]
        assert state is not None and state.tools_used == ("time__get_current_time",) and state.servers_used == ("time",)
        assert state.awaiting_tool_result and state.tool_errors == 0 and "UTC" in state.last_result
        bad = await e.gateway.call_tool("time__get_current_time", {"timezone": "Mars/Olympus"}, meta=meta)
        assert bad.get("isError")
        state = await e.store.load("px")  # type: ignore[union-attr]
        assert state is not None and state.tool_errors == 1
        # An anonymous call is forwarded but not recorded anywhere.
        await e.gateway.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert [s.conversation_id for s in await e.store.list_conversations()] == ["px"]  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_complete_routes_one_model_call_and_keeps_the_tier(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        c = conv("chat")
        msgs: list[dict[str, Any]] = [{"role": "user", "content": HARD}]
        d1, chat1 = await e.complete(msgs, identity=c, tools="mcp")
        assert d1.tier == "reasoning" and chat1.model == "deep" and chat1.response.tool_calls
        call = chat1.response.tool_calls[0]
        assert call.name.startswith("time__")
        state = await e.store.load("chat")  # type: ignore[union-attr]
        assert state is not None and state.awaiting_tool_result and state.tools_used == (call.name,)
        msgs += [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": call.id, "type": "function", "function": {"name": call.name, "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "12:00 UTC [text]"},
        ]
        d2, chat2 = await e.complete(msgs, identity=c, tools="mcp")
        assert d2.tier == "reasoning" and "awaiting its result" in d2.sticky_reason  # kept through the loop
        with pytest.raises(InvalidRequest, match="messages must not be empty"):
            await e.complete([], identity=c)
        with pytest.raises(InvalidRequest, match=r"messages\[0\].role must be one of"):
            await e.complete([{"role": "robot", "content": "x"}], identity=c)


@pytest.mark.anyio
async def test_state_survives_an_engine_restart(tmp_path: Path) -> None:
    async with engine(tmp_path) as e:
        await e.run_step(HARD, identity=conv("keep"))
    async with engine(tmp_path) as e:
        step = await e.run_step(EASY, identity=conv("keep"))
        assert step.tier == "reasoning" and "new conversation" not in step.decision.sticky_reason
        assert "kept time's tools first" in step.decision.sticky_reason


@pytest.mark.anyio
async def test_a_corrupt_state_file_gives_a_clear_note_and_a_working_engine(tmp_path: Path) -> None:
    (tmp_path / "state.sqlite3").write_bytes(b"this is not a database" * 100)
    async with engine(tmp_path) as e:
        assert e.store is not None and e.store.recovered and "state" in e.store.recovered
        step = await e.run_step(EASY + " [text]", identity=conv("after-corruption"))
        assert step.tier == "fast" and not step.is_error


def test_a_chat_step_is_routed_on_the_users_words_not_on_a_tool_result() -> None:
    from mcproute.providers import Message
    from mcproute.runtime.messages import step_text

    long_output = "commit 1a2b3c\nAuthor: x\n\n    prove the invariant holds by induction on n\n" * 200
    msgs = [Message("user", "show me the git log"), Message("assistant", ""), Message("tool", long_output)]
    assert step_text(msgs) == "show me the git log"
    assert step_text([Message("tool", "only a result")]) == "only a result"
