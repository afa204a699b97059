"""Two in-process gateway engines (two replicas: own downstream children, own model pools) on one
real redis-server: a conversation whose steps alternate between them routes exactly as the same
steps do on one engine with SQLite, and each step is recorded once for feedback."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from mcproute.config import parse_config
from mcproute.gateway.identity import ConversationIdentity
from mcproute.runtime import Engine
from mcproute.state.redis_store import RedisStore
from redis_fixture import RedisServer
from runtime_support import EASY, HARD, config_dict

pytestmark = pytest.mark.anyio
TEXTS = [HARD, EASY, EASY, EASY, HARD, EASY, EASY, HARD]


def loaded(data_dir: Path, state: dict[str, Any]) -> Any:
    cfg = config_dict(data_dir)
    cfg["state"] = state
    return parse_config(json.dumps(cfg), environ={})


async def test_a_conversation_alternating_replicas_routes_as_on_one_gateway(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    prefix = redis_server.fresh_prefix()
    redis_state = {"backend": "redis", "url": redis_server.url, "key_prefix": prefix}
    cid = ConversationIdentity("alternating", "argument")
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(Engine(loaded(tmp_path / "one", {"backend": "sqlite"})))
        a = await stack.enter_async_context(Engine(loaded(tmp_path / "a", redis_state)))
        b = await stack.enter_async_context(Engine(loaded(tmp_path / "b", redis_state)))
        for e in (one, a, b):
            await e.wait_settled()
        alone, spread = [], []
        for i, text in enumerate(TEXTS):
            r1 = await one.run_step(text, identity=cid)
            r2 = await (a if i % 2 == 0 else b).run_step(text, identity=cid)
            alone.append((r1.tier, r1.model, r1.tool, r1.decision.sticky_held, r1.decision.sticky_reason))
            spread.append((r2.tier, r2.model, r2.tool, r2.decision.sticky_held, r2.decision.sticky_reason))
            assert r2.step_id and not r2.not_recorded, r2.not_recorded
        assert spread == alone
        assert {t for t, *_ in alone} == {"reasoning", "fast"}  # the run did switch tiers, so stickiness was tested
    async with RedisStore(redis_server.url, prefix=prefix) as store:
        state = await store.load("alternating")
        assert state is not None and state.step_count == len(TEXTS)
        assert (await store.feedback_stats()).steps == len(TEXTS)
