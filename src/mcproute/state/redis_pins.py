"""Tool-definition pins in Redis: one hash `<prefix>pins` (field `server\\0tool` → the record as JSON)
and a version counter `<prefix>pins:v`, bumped by every write so replicas polling for approvals
(`pins_version`) re-read only when something changed. redis_store.py owns the client; this module
only knows the layout. `approve` is an optimistic transaction (WATCH the hash): two replicas or a
replica and `mcproute pins approve` cannot lose each other's writes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from mcproute.errors import StateError
from mcproute.state.pins import PinRecord, select


def _field(record: PinRecord) -> str:
    return f"{record.server}\0{record.tool}"


def _encode(record: PinRecord) -> str:
    return json.dumps(dataclasses.asdict(record), sort_keys=True, ensure_ascii=False)


def _decode(raw: bytes | str) -> PinRecord:
    try:
        return PinRecord(**json.loads(raw))
    except (TypeError, ValueError) as exc:
        raise StateError(f"unreadable tool pin in the Redis store: {exc}") from None


def _parse(rows: dict[Any, Any]) -> dict[tuple[str, str], PinRecord]:
    records = sorted((_decode(v) for v in rows.values()), key=lambda r: r.key)
    return {r.key: r for r in records}


async def load(client: Any, prefix: str) -> dict[tuple[str, str], PinRecord]:
    return _parse(await client.hgetall(f"{prefix}pins"))


async def save(client: Any, prefix: str, records: Sequence[PinRecord]) -> None:
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(f"{prefix}pins", mapping={_field(r): _encode(r) for r in records})
        pipe.incr(f"{prefix}pins:v")
        await pipe.execute()


async def approve(client: Any, prefix: str, target: str | None, now: float) -> list[PinRecord]:
    key = f"{prefix}pins"
    chosen: list[PinRecord] = []

    async def body(pipe: Any) -> None:
        chosen.clear()
        current = _parse(await pipe.hgetall(key))  # immediate mode: read under WATCH
        chosen.extend(r.approved(now) for r in select(list(current.values()), target) if r.pending_hash is not None)
        pipe.multi()
        if chosen:
            pipe.hset(key, mapping={_field(r): _encode(r) for r in chosen})
        pipe.incr(f"{prefix}pins:v")

    await client.transaction(body, key)
    return list(chosen)
