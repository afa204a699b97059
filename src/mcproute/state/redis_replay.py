"""The replay log in Redis (`state.backend: redis`): the same records as state/replay.py, shared by
every replica so `mcproute replay` sees the whole deployment's steps.

Layout under the store's prefix: `r:<step>` a hash of the `replay_steps` columns (None columns are
left out), `rsteps` a sorted set of steps by time, `rcat:<version>` a catalogue's tool specs (JSON).
Retention as in SQLite: `max_steps` (the oldest are popped in the same script that adds a step)
and `max_age_days` (each step key expires after it; a sweep at most once a minute trims the
index). A catalogue's expiry is pushed forward by every step that refers to it, so it lives
exactly as long as its newest step and needs no reference counting.

`keep` is async (the gateway); the readers are synchronous (the CLI), on a second, sync client.
Rewards are read from the conversation store's step hashes (`s:<step>`, field `r`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mcproute.errors import StateError
from mcproute.state.replay import SWEEP_EVERY, KeptStep

# KEYS: step hash, index zset, catalogue key ('' none). ARGV: step id, now, max age ms, max steps,
# prefix, catalogue JSON ('' none), then the hash's field/value pairs.
_KEEP = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if KEYS[3] ~= '' then
  if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[6], 'NX') end
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[5] .. 'r:' .. old[i]) end
  return extra
end
return 0
"""
# KEYS: index zset. ARGV: cutoff, prefix. Returns the steps removed.
_SWEEP = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, sid in ipairs(old) do redis.call('DEL', ARGV[2] .. 'r:' .. sid) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return #old
"""
_TEXT = ("conversation_id", "text", "text_sha256", "inputs", "catalog_version", "tool", "tier", "model", "decision")
_BATCH = 500


def _s(value: Any) -> str | None:
    return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


class RedisReplayStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mcproute:",
        max_steps: int = 50_000,
        max_age_days: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            import redis
            import redis.asyncio as aioredis
        except ImportError:
            raise StateError(
                "the Redis replay log needs the redis client library: pip install 'mcproute[redis]'"
            ) from None
        self.url = url
        self.prefix = prefix
        self.max_steps = max_steps
        self.max_age = max_age_days * 86400.0
        self._clock = clock
        self._last_sweep = float("-inf")
        self._catalogs: set[str] = set()  # versions this process has stored (and keeps refreshing)
        # Timeouts: a hung server fails a call, never hangs it.
        self._aio = aioredis.Redis.from_url(url, decode_responses=False, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._sync = redis.Redis.from_url(url, decode_responses=False, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._keep = self._aio.register_script(_KEEP)
        self._sweep = self._aio.register_script(_SWEEP)
        self._sweep_sync = self._sync.register_script(_SWEEP)

    def _k(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}{name}"

    async def keep(self, row: Mapping[str, Any], catalog: tuple[str, Sequence[Mapping[str, Any]]] | None) -> None:
        now = self._clock()
        sid = str(row["step_id"])
        fields: list[Any] = ["created_at", repr(now)]
        for name, value in row.items():
            if value is not None and name not in ("step_id", "created_at"):
                fields += [name, value]
        version = catalog[0] if catalog is not None else ""
        tools = ""
        if catalog is not None and version not in self._catalogs:
            tools = json.dumps(list(catalog[1]), separators=(",", ":"), default=str)
        keys = [self._k("r:", sid), self._k("rsteps"), self._k("rcat:", version) if version else ""]
        args = [sid, repr(now), max(1, math.ceil(self.max_age * 1000)), self.max_steps, self.prefix, tools, *fields]
        try:
            await self._keep(keys=keys, args=args)
            if now - self._last_sweep >= SWEEP_EVERY:
                self._last_sweep = now
                await self._sweep(keys=[self._k("rsteps")], args=[repr(now - self.max_age), self.prefix])
        except Exception as exc:
            raise StateError(f"Redis replay log failed: {exc}") from None
        if version:
            self._catalogs.add(version)

    async def prune(self) -> int:
        now = self._clock()
        self._last_sweep = now
        try:
            return int(await self._sweep(keys=[self._k("rsteps")], args=[repr(now - self.max_age), self.prefix]))
        except Exception as exc:
            raise StateError(f"Redis replay log failed: {exc}") from None

    # ------------------------------------------------------------ reading (synchronous, for the CLI)

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        try:
            return fn(self._sync)
        except StateError:
            raise
        except Exception as exc:
            raise StateError(f"Redis replay log at {self.prefix!r} failed: {exc}") from None

    def read_steps(self, *, since: float | None = None, conversation: str | None = None) -> list[KeptStep]:
        """Kept steps, oldest first, with their feedback reward."""
        low = repr(max(since if since is not None else float("-inf"), self._clock() - self.max_age))

        def body(c: Any) -> list[KeptStep]:
            ids = [_s(i) for i in c.zrangebyscore(self._k("rsteps"), low, "+inf")]
            out: list[KeptStep] = []
            for start in range(0, len(ids), _BATCH):
                chunk = ids[start : start + _BATCH]
                pipe = c.pipeline(transaction=False)
                for sid in chunk:
                    pipe.hgetall(self._k("r:", str(sid)))
                    pipe.hget(self._k("s:", str(sid)), "r")
                replies = pipe.execute()
                for sid, raw, reward in zip(chunk, replies[::2], replies[1::2], strict=True):
                    if not raw:  # expired between the two reads
                        continue
                    kept = self._step(str(sid), {_s(k): v for k, v in raw.items()}, reward)
                    if conversation is None or kept.conversation_id == conversation:
                        out.append(kept)
            return out

        result: list[KeptStep] = self._call(body)
        return result

    @staticmethod
    def _step(sid: str, h: Mapping[str | None, Any], reward: Any) -> KeptStep:
        text = {name: _s(h.get(name)) for name in _TEXT}
        return KeptStep(
            sid,
            text["conversation_id"] or "",
            float(h["created_at"]),
            text["text"],
            text["text_sha256"] or "",
            h.get("vector"),
            json.loads(text["inputs"] or "{}"),
            h.get("state"),
            text["catalog_version"] or "",
            json.loads(text["decision"] or "{}"),
            json.loads(_s(h["usage"]) or "{}") if h.get("usage") else {},
            float(reward) if reward else None,
        )

    def catalog(self, version: str) -> list[dict[str, Any]] | None:
        raw = self._call(lambda c: c.get(self._k("rcat:", version)))
        return None if raw is None else list(json.loads(raw))

    def count(self) -> int:
        return int(self._call(lambda c: c.zcard(self._k("rsteps"))))

    async def close(self) -> None:
        await self._aio.aclose()
        self._sync.close()

    def close_sync(self) -> None:
        self._sync.close()
