"""Policy versions in Redis: a hash `<prefix>policies` (id → the version as JSON) and a list
`<prefix>policies:order` (ids, newest first). redis_store.py owns the client; this module only
knows the layout. A write is one MULTI transaction (push, then trim to the newest MAX_VERSIONS,
keeping the version in force), so replicas recording at once never leave a dangling id.
"""

from __future__ import annotations

from typing import Any

from mcproute.state.policies import MAX_VERSIONS, PolicyVersion, decode


def _s(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def record(client: Any, prefix: str, version: PolicyVersion, data_json: str) -> None:
    h, order = f"{prefix}policies", f"{prefix}policies:order"
    if await client.hexists(h, version.id):
        return  # ids are content hashes: the same version twice is one version
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(h, version.id, data_json)
        pipe.lpush(order, version.id)
        await pipe.execute()
    ids = [_s(x) for x in await client.lrange(order, MAX_VERSIONS, -1)]
    if ids:
        keep = await current(client, prefix)
        drop = [i for i in ids if keep is None or i != keep.id]
        async with client.pipeline(transaction=True) as pipe:
            for i in drop:
                pipe.lrem(order, 0, i)
                pipe.hdel(h, i)
            await pipe.execute()


async def get(client: Any, prefix: str, version_id: str) -> PolicyVersion | None:
    raw = await client.hget(f"{prefix}policies", version_id)
    return decode(raw) if raw is not None else None


async def newest(client: Any, prefix: str, limit: int) -> list[PolicyVersion]:
    ids = [_s(x) for x in await client.lrange(f"{prefix}policies:order", 0, limit - 1)]  # limit 0: all
    if not ids:
        return []
    raws = await client.hmget(f"{prefix}policies", ids)
    return [decode(r) for r in raws if r is not None]


async def current(client: Any, prefix: str) -> PolicyVersion | None:
    # The list is trimmed to the newest MAX_VERSIONS plus the one in force, so reading it all is bounded.
    for v in await newest(client, prefix, 0):
        if v.status == "adopted":
            return v
    return None
