"""Shared health: a deployment's open circuit and its Retry-After, seen by every replica.

With `state.backend: redis`, each replica publishes its own breaker openings and 429 cool-offs
as short-lived keys (`<prefix>h:<deployment>`, a hash: `open_until` and `rl_until` in wall-clock
seconds, `by` the replica, `err` the last error) and applies the other replicas' ones to its local
breakers, every `interval` seconds. The decision path stays synchronous and local (a route walk
never waits on Redis); only this background task does I/O.

So an outage costs one replica's probes, not N: the replica that opened a circuit probes it when
its cool-down ends; the others hold theirs open `grace` seconds longer, long enough to hear the
probe's verdict — closed (`open_until` 0: they close too) or failed (a new `open_until`: they
wait again). If that replica has died, the others' grace runs out and they probe as usual.
A replica never closes a circuit it opened from its own failures because of another's verdict.

Clocks: the breakers run on a monotonic clock, the keys carry wall-clock time (hosts are expected
to be NTP-synced; a skew of a second shifts a cool-off by that second, nothing worse).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from mcproute.providers.health import DeploymentHealth

log = logging.getLogger("mcproute.providers")
_CLOSED_KEEP = 60.0  # seconds a "closed" verdict stays readable for replicas that poll late


class SharedHealth:
    def __init__(
        self,
        client: Any,
        prefix: str,
        healths: Sequence[DeploymentHealth],
        *,
        interval: float = 0.5,
        grace: float | None = None,
        mono: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        replica: str | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._healths = {h.key: h for h in healths}
        self.interval = interval
        self.grace = 4 * interval if grace is None else grace
        self._mono, self._wall = mono, wall
        self.replica = replica or uuid.uuid4().hex[:12]
        self._published: dict[str, tuple[float | None, float | None]] = {}  # own opened_at, cool-off end
        self._applied: dict[str, float] = {}  # key -> breaker.opened_at we set from another replica
        self._was_open: dict[str, bool] = {}

    def _key(self, deployment: str) -> str:
        return f"{self._prefix}h:{deployment}"

    def _to_wall(self, mono_time: float) -> float:
        return self._wall() + (mono_time - self._mono())

    def _to_mono(self, wall_time: float) -> float:
        return self._mono() + (wall_time - self._wall())

    async def run(self) -> None:
        """The background loop (in the engine's task group); Redis errors are logged, not raised."""
        while True:
            try:
                await self.sync_once()
            except Exception as exc:  # Redis down: every replica falls back to its own breakers
                log.warning("shared health: sync with Redis failed: %s", exc)
            await anyio.sleep(self.interval)

    async def sync_once(self) -> None:
        await self._publish()
        await self._apply()

    async def _publish(self) -> None:
        now_mono = self._mono()
        seen: dict[str, tuple[float | None, float | None]] = {}
        was_open: dict[str, bool] = {}
        async with self._client.pipeline(transaction=False) as pipe:
            writes = 0
            for key, h in self._healths.items():
                b = h.breaker
                is_open = b.opened_at is not None
                own = b.opened_at if is_open and self._applied.get(key) != b.opened_at else None
                cooling = h.rate_limited_until if h.rate_limited_until > now_mono else None
                # Compared in this process's monotonic time: converting to wall time on every
                # sync would differ by microseconds and rewrite the key each time.
                before_open, before_rl = self._published.get(key, (None, None))
                closed_now = self._was_open.get(key, False) and not is_open
                was_open[key] = is_open
                if (
                    (own is not None and own != before_open)
                    or (cooling is not None and cooling != before_rl)
                    or closed_now
                ):
                    open_until = self._to_wall(b.ready_at()) if own is not None else 0.0
                    rl_until = self._to_wall(cooling) if cooling is not None else 0.0
                    fields = {"open_until": repr(open_until), "rl_until": repr(rl_until), "by": self.replica}
                    if h.last_error:
                        fields["err"] = h.last_error[:300]
                    pipe.hset(self._key(key), mapping=fields)
                    live = max(open_until, rl_until) - self._wall()
                    pipe.pexpire(self._key(key), max(1, int((max(live, 0) + _CLOSED_KEEP) * 1000)))
                    writes += 1
                seen[key] = (own, cooling)
            if writes:
                await pipe.execute()
        # Only once written: after a failed write the next sync tries again.
        self._published.update(seen)
        self._was_open.update(was_open)

    async def _apply(self) -> None:
        keys = list(self._healths)
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self._key(key))
            rows = await pipe.execute()
        now_wall = self._wall()
        for key, row in zip(keys, rows, strict=True):
            data = {_s(k): _s(v) for k, v in row.items()}
            if not data or data.get("by") == self.replica:
                continue
            h, b = self._healths[key], self._healths[key].breaker
            open_until, rl_until = float(data.get("open_until") or 0), float(data.get("rl_until") or 0)
            if rl_until > now_wall:
                h.rate_limited_until = max(h.rate_limited_until, self._to_mono(rl_until))
            if open_until > now_wall and not b.probing:
                # Hold it open `grace` past the other replica's probe, to hear that probe's verdict.
                opened_at = self._to_mono(open_until) + self.grace - b.cooldown
                if b.opened_at is None or b.opened_at < opened_at:
                    b.opened_at = opened_at
                    self._applied[key] = opened_at
                    self._was_open[key] = True  # not ours to announce when it closes
                    h.last_error = f"circuit opened by another replica: {data.get('err', '')}"[:300]
            elif open_until == 0 and b.opened_at is not None and self._applied.get(key) == b.opened_at:
                # The replica that opened it probed and it worked: close ours too (no probe needed).
                b.record_success()
                self._was_open[key] = False
                self._applied.pop(key, None)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
