"""Handshake-era MCP session records in Redis: one hash `<prefix>hs:<session id>` per session
(`d` the record as JSON, `seen` last use, `idle` the idle timeout in seconds) with a Redis expiry
of the idle timeout, renewed by every touch, so a session nobody uses disappears on its own.
Expiry is also checked on read with the store's clock, as for conversations. redis_store.py owns
the client; this module only knows the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcproute.errors import StateError
from mcproute.state.sessions import SessionRecord, decode_session, encode_session

# KEYS: the session hash. ARGV: now. 1 (and `seen` = now, expiry renewed) if live, else 0.
TOUCH = """
local row = redis.call('HMGET', KEYS[1], 'seen', 'idle')
if not row[1] or not row[2] then return 0 end
local now, idle = tonumber(ARGV[1]), tonumber(row[2])
if tonumber(row[1]) + idle <= now then return 0 end
redis.call('HSET', KEYS[1], 'seen', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(idle * 1000)))
return 1
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000 + 0.999))


async def save(client: Any, key: str, record: SessionRecord, now: float) -> None:
    async with client.pipeline(transaction=True) as pipe:
        _write(pipe, key, record, now)
        await pipe.execute()


def _write(pipe: Any, key: str, record: SessionRecord, now: float) -> None:
    left = record.expires_at - now
    pipe.delete(key)
    pipe.hset(
        key, mapping={"d": encode_session(record), "seen": repr(record.last_seen), "idle": repr(record.idle_timeout)}
    )
    pipe.pexpire(key, _ms(left) if left > 0 else 1)


async def update(
    client: Any, key: str, change: Callable[[SessionRecord], SessionRecord], now: float, attempts: int = 32
) -> SessionRecord | None:
    """Optimistic: WATCH the hash, read, change, write in MULTI; another writer in between makes
    EXEC fail, and the change is applied again to what that writer left."""
    from redis.exceptions import WatchError

    for _ in range(attempts):
        async with client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                data, seen = await pipe.hmget(key, ["d", "seen"])
                record = None if data is None or seen is None else decode_session(data, last_seen=float(seen))
                if record is None or not record.live(now):
                    return None
                new = change(record)
                pipe.multi()
                _write(pipe, key, new, now)
                await pipe.execute()
                return new
            except WatchError:
                continue
    raise StateError(f"MCP session record {key!r} kept changing under {attempts} attempts to update it")


async def load(client: Any, key: str, now: float) -> SessionRecord | None:
    data, seen = await client.hmget(key, ["d", "seen"])
    if data is None or seen is None:
        return None
    record = decode_session(data, last_seen=float(seen))
    return record if record.live(now) else None
