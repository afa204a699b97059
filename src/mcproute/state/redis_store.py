"""Redis (or Valkey) `ConversationStore`: the state every replica of a deployment shares.

Layout, under one key prefix (default `mcproute:`):

- `c:<conversation>` a hash: `s` the compact state (`codec`), `t` last update, `f` the fencing
  token of its last writer, `ls` its last step id; `convs` a sorted set of conversations by `t`
  (the size bound pops its oldest members).
- `s:<step>` a hash: `c` conversation, `t` created, `d` the decision, `tier`, `pv` policy version,
  `r` reward, `fa` feedback time; `steps` a sorted set of steps by `t`.
- `l:<conversation>` the lease (redis_lease.py), `fence` the token counter.
- `n:<counter>` windowed client counters (state/counters.py); `pins` + `pins:v` tool pins
  (redis_pins.py); `hs:<session>` handshake-era MCP session records (redis_sessions.py).

Timestamps come from the injected clock, as in the other stores, so TTL semantics are the same
(expired state is invisible on read; `evict()` and a periodic sweep delete it). Each key also gets
a Redis expiry of the TTL so nothing outlives it if no gateway sweeps. Every write is one Lua
script (redis_scripts.py): the step record and the state update are one atomic round trip, and
fenced by the lease token. redis-py is imported lazily: the default install does not need it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from mcproute.errors import StateError, UnknownStep
from mcproute.router.step import ConversationState
from mcproute.state import policies, redis_pins, redis_policies, redis_scripts, redis_sessions
from mcproute.state.base import (
    AggregateRow,
    FeedbackStats,
    StepRecord,
    Transition,
    check_reward,
    check_transition,
    own_step,
    parse_decision,
    summarise,
)
from mcproute.state.codec import decode_json, decode_state, encode_json, encode_state
from mcproute.state.counters import Taken
from mcproute.state.pins import PinRecord
from mcproute.state.policies import PolicyVersion
from mcproute.state.redis_lease import Lease, LeaseLocks
from mcproute.state.sessions import SessionRecord

log = logging.getLogger("mcproute.state")
_BATCH = 500  # step hashes read per round trip by feedback_stats


def _redis_client(url: str) -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise StateError(
            "state.backend 'redis' needs the redis client library: pip install 'mcproute[redis]'"
        ) from None
    try:
        # Timeouts: a hung or SIGSTOPped server must fail a step with a StateError, not hang it.
        return aioredis.Redis.from_url(url, decode_responses=False, socket_timeout=5.0, socket_connect_timeout=5.0)
    except ValueError as exc:
        raise StateError(f"state.url {url!r} is not a Redis URL: {exc}") from None


def _s(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mcproute:",
        ttl_seconds: float = 7 * 24 * 3600,
        max_conversations: int = 100_000,
        max_steps: int | None = None,
        lease_seconds: float = 15.0,
        lock_wait_seconds: float = 150.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.max_conversations = max_conversations
        self.max_steps = max_conversations if max_steps is None else max_steps
        self.recovered: str | None = None
        self._clock = clock
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._client = _redis_client(url)
        self._locks = LeaseLocks(self._client, prefix, lease_seconds=lease_seconds, wait_seconds=lock_wait_seconds)
        self._scripts = {
            name: self._client.register_script(getattr(redis_scripts, name))
            for name in ("WRITE", "SAVE_STEP", "LOAD_WITH_LAST", "FEEDBACK", "SWEEP", "TAKE")
        }
        self._touch_session = self._client.register_script(redis_sessions.TOUCH)
        self._last_sweep = float("-inf")
        self._closed = False

    @property
    def client(self) -> Any:
        """The redis-py asyncio client (shared health publishes through it too)."""
        return self._client

    async def ping(self) -> None:
        """Fail early (a clear StateError) when the server cannot be reached."""
        await self._call(lambda c: c.ping())

    # ------------------------------------------------------------ plumbing

    def _k(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}{name}"

    async def _call(self, fn: Callable[[Any], Any]) -> Any:
        if self._closed:
            raise StateError(f"state store {self.url} is closed")
        try:
            return await fn(self._client)
        except StateError:
            raise
        except Exception as exc:  # redis-py's ConnectionError, TimeoutError, ResponseError...
            raise StateError(f"Redis state store failed: {exc}; this step's state was not saved") from None

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts[name]
        return await self._call(lambda _c: script(keys=keys, args=args))

    def _cutoff(self) -> float:
        return self._clock() - self.ttl

    # ------------------------------------------------------------ conversations

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]:
        return self._locks.hold(conversation_id)

    async def load(self, conversation_id: str) -> ConversationState | None:
        state, _ = await self._load(conversation_id, with_step=False)
        return state

    async def load_with_last_step(self, conversation_id: str) -> tuple[ConversationState | None, StepRecord | None]:
        return await self._load(conversation_id, with_step=True)

    async def _load(self, cid: str, *, with_step: bool) -> tuple[ConversationState | None, StepRecord | None]:
        row = await self._script("LOAD_WITH_LAST", [self._k("c:", cid)], [self.prefix, repr(self._cutoff())])
        state = decode_state(cid, row[0]) if row else None
        lease = self._locks.held(cid)
        if lease is not None:  # read under our lease: nobody else can change it until we write
            lease.seen = (state,)
        if state is None or not with_step or len(row) < 6 or not state.last_step_id:
            return state, None
        c, t, d, r, fa = row[1:6]
        record = StepRecord(
            state.last_step_id, _s(c), decode_json(d), float(t), float(r) if r else None, float(fa) if fa else None
        )
        return state, own_step(cid, record)

    async def save(self, state: ConversationState) -> None:
        cid = state.conversation_id
        outermost = self._locks.held(cid) is None
        async with self._locks.hold(cid, renew=False) as lease:
            await self._write(state, lease, None, release=outermost)

    async def update(self, conversation_id: str, fn: Transition) -> ConversationState:
        return await self._step(conversation_id, fn, None)

    async def record_step(
        self, conversation_id: str, step_id: str, decision_json: str, fn: Transition
    ) -> ConversationState:
        return await self._step(conversation_id, fn, (step_id, parse_decision(step_id, decision_json)))

    async def _step(self, cid: str, fn: Transition, step: tuple[str, dict[str, Any]] | None) -> ConversationState:
        """Read (or reuse what this lease holder last read or wrote), transition, fenced write.
        Outside a held lock that is 3 round trips: lease, read, write-and-release."""
        outermost = self._locks.held(cid) is None
        async with self._locks.hold(cid, renew=False) as lease:
            current = lease.seen[0] if lease.seen is not None else await self.load(cid)
            new = check_transition(cid, fn(current))
            await self._write(new, lease, step, release=outermost)
            return new

    async def _write(
        self, state: ConversationState, lease: Lease, step: tuple[str, dict[str, Any]] | None, *, release: bool
    ) -> None:
        cid, token = state.conversation_id, lease.token
        now = self._clock()
        keys = [self._k("c:", cid), self._k("l:", cid), self._k("convs"), self._k("steps")]
        args: list[Any] = [
            cid, token, repr(now), encode_state(state), state.last_step_id or "", self._ttl_ms,
            self.max_conversations, self.prefix, self.max_steps, "1" if release else "0",
        ]  # fmt: skip
        if step is not None:
            step_id, decision = step
            tier, policy = decision.get("tier"), decision.get("policy_version")
            keys.append(self._k("s:", step_id))
            args += [step_id, tier if isinstance(tier, str) else "", policy if isinstance(policy, str) else ""]
            args.append(encode_json(decision))
        lease.seen = None  # until the write is known to have landed
        code, detail = await self._script("WRITE", keys, args)
        if int(code) == -2:
            raise StateError(
                f"conversation {cid!r}: a newer lease holder (token {_s(detail)}) already wrote a step; "
                f"this replica's lease (token {token}) lapsed, so its step was not saved"
            )
        if int(code) == -1:
            raise StateError(
                f"conversation {cid!r}: this replica's lease (token {token}) lapsed before the write "
                f"({'now held by token ' + _s(detail) if detail else 'no holder now'}); its step was not saved"
            )
        lease.seen, lease.released = (state,), release
        await self._maybe_sweep(now)

    async def _maybe_sweep(self, now: float) -> None:
        if now - self._last_sweep >= min(self.ttl / 10, 60.0):
            self._last_sweep = now
            await self._script("SWEEP", [self._k("convs"), self._k("steps")], [repr(now - self.ttl), self.prefix])

    async def delete(self, conversation_id: str) -> bool:
        lease = self._locks.held(conversation_id)
        if lease is not None:
            lease.seen = None

        async def body(c: Any) -> bool:
            async with c.pipeline(transaction=True) as pipe:
                pipe.delete(self._k("c:", conversation_id))
                pipe.zrem(self._k("convs"), conversation_id)
                gone, _ = await pipe.execute()
            return bool(gone)

        return bool(await self._call(body))

    async def list_conversations(self, limit: int = 100) -> list[ConversationState]:
        async def body(c: Any) -> list[ConversationState]:
            ids = await c.zrevrangebyscore(self._k("convs"), "+inf", repr(self._cutoff()), start=0, num=limit)
            if not ids:
                return []
            async with c.pipeline(transaction=False) as pipe:
                for cid in ids:
                    pipe.hget(self._k("c:", _s(cid)), "s")
                blobs = await pipe.execute()
            return [decode_state(_s(cid), blob) for cid, blob in zip(ids, blobs, strict=True) if blob]

        result: list[ConversationState] = await self._call(body)
        return result

    async def evict(self) -> int:
        now = self._clock()
        self._last_sweep = now
        removed = await self._script("SWEEP", [self._k("convs"), self._k("steps")], [repr(now - self.ttl), self.prefix])
        return int(removed)

    # ------------------------------------------------------------ steps and feedback

    async def save_step(self, step_id: str, conversation_id: str, decision_json: str) -> None:
        decision = parse_decision(step_id, decision_json)
        tier, policy = decision.get("tier"), decision.get("policy_version")
        await self._script(
            "SAVE_STEP",
            [self._k("s:", step_id), self._k("steps")],
            [
                step_id, conversation_id, repr(self._clock()), tier if isinstance(tier, str) else "",
                policy if isinstance(policy, str) else "", encode_json(decision), self._ttl_ms, self.max_steps,
                self.prefix,
            ],
        )  # fmt: skip

    async def get_step(self, step_id: str) -> StepRecord | None:
        row = await self._call(lambda c: c.hmget(self._k("s:", step_id), ["c", "t", "d", "r", "fa"]))
        if row[0] is None or float(row[1]) < self._cutoff():
            return None
        return self._record(step_id, row)

    @staticmethod
    def _record(step_id: str, row: Sequence[Any]) -> StepRecord:
        c, t, d, r, fa = row
        return StepRecord(step_id, _s(c), decode_json(d), float(t), float(r) if r else None, float(fa) if fa else None)

    async def record_feedback(self, step_id: str, reward: float) -> StepRecord:
        value = check_reward(step_id, reward)
        row = await self._script(
            "FEEDBACK", [self._k("s:", step_id)], [repr(value), repr(self._clock()), repr(self._cutoff())]
        )
        if not row:
            raise UnknownStep(f"no step {step_id!r} to give feedback for (unknown, or older than the state TTL)")
        return self._record(step_id, row)

    async def feedback_stats(self) -> FeedbackStats:
        async def body(c: Any) -> list[AggregateRow]:
            ids = await c.zrangebyscore(self._k("steps"), repr(self._cutoff()), "+inf")
            groups: dict[tuple[str | None, str | None], list[float]] = {}
            for start in range(0, len(ids), _BATCH):
                async with c.pipeline(transaction=False) as pipe:
                    for sid in ids[start : start + _BATCH]:
                        pipe.hmget(self._k("s:", _s(sid)), ["tier", "pv", "r", "c"])
                    for tier, pv, r, cid in await pipe.execute():
                        if cid is None:  # expired by Redis between the two reads
                            continue
                        acc = groups.setdefault((_s(tier) or None, _s(pv) or None), [0, 0, 0.0])
                        acc[0] += 1
                        if r:
                            acc[1] += 1
                            acc[2] += float(r)
            return [(t, p, int(a[0]), int(a[1]), a[2]) for (t, p), a in sorted(groups.items(), key=str)]

        rows: list[AggregateRow] = await self._call(body)
        return summarise(rows)

    # ------------------------------------------------------------ client counters (state/counters.py)

    async def take(self, key: str, amount: float, limit: float | None, expires_at: float) -> Taken:
        added, total = await self._script(
            "TAKE",
            [self._k("n:", key)],
            [repr(float(amount)), "" if limit is None else repr(float(limit)), repr(expires_at), repr(self._clock())],
        )
        return Taken(bool(int(added)), float(total))

    # ------------------------------------------------------------ tool-definition pins (PinStore)

    async def load_pins(self) -> dict[tuple[str, str], PinRecord]:
        result: dict[tuple[str, str], PinRecord] = await self._call(lambda c: redis_pins.load(c, self.prefix))
        return result

    async def save_pins(self, records: Sequence[PinRecord]) -> None:
        if records:
            await self._call(lambda c: redis_pins.save(c, self.prefix, records))

    async def approve_pins(self, target: str | None, now: float) -> list[PinRecord]:
        result: list[PinRecord] = await self._call(lambda c: redis_pins.approve(c, self.prefix, target, now))
        return result

    async def pins_version(self) -> int:
        return int(await self._call(lambda c: c.get(self._k("pins:v"))) or 0)

    # ------------------------------------------------------------ learned policy versions (PolicyStore)

    async def record_policy(self, version: PolicyVersion) -> None:
        data = policies.encode(version)
        await self._call(lambda c: redis_policies.record(c, self.prefix, version, data))

    async def get_policy(self, version_id: str) -> PolicyVersion | None:
        result: PolicyVersion | None = await self._call(lambda c: redis_policies.get(c, self.prefix, version_id))
        return result

    async def list_policies(self, limit: int = policies.MAX_VERSIONS) -> list[PolicyVersion]:
        n = policies.check_limit(limit)
        result: list[PolicyVersion] = await self._call(lambda c: redis_policies.newest(c, self.prefix, n))
        return result

    async def current_policy(self) -> PolicyVersion | None:
        result: PolicyVersion | None = await self._call(lambda c: redis_policies.current(c, self.prefix))
        return result

    # ------------------------------------------------------------ lifecycle

    # ------------------------------------------------------------ MCP sessions (SessionStore)

    async def save_session(self, record: SessionRecord) -> None:
        now = self._clock()
        await self._call(lambda c: redis_sessions.save(c, self._k("hs:", record.session_id), record, now))

    async def load_session(self, session_id: str) -> SessionRecord | None:
        now = self._clock()
        result: SessionRecord | None = await self._call(
            lambda c: redis_sessions.load(c, self._k("hs:", session_id), now)
        )
        return result

    async def touch_session(self, session_id: str) -> bool:
        key, now = self._k("hs:", session_id), repr(self._clock())
        return bool(await self._call(lambda _c: self._touch_session(keys=[key], args=[now])))

    async def delete_session(self, session_id: str) -> bool:
        return bool(await self._call(lambda c: c.delete(self._k("hs:", session_id))))

    async def update_session(
        self, session_id: str, change: Callable[[SessionRecord], SessionRecord]
    ) -> SessionRecord | None:
        key, now = self._k("hs:", session_id), self._clock()
        result: SessionRecord | None = await self._call(lambda c: redis_sessions.update(c, key, change, now))
        return result

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
