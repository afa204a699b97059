"""The per-conversation lock across replicas: a Redis lease (SET NX PX + fencing token).

In one process the anyio lock of `ConversationLocks` queues a conversation's steps (and makes the
lock re-entrant per task); across processes and hosts the lease does. Taking the lease draws a
fencing token from one deployment-wide counter, so a later holder always has a larger token. Every
state write carries the holder's token and the write script refuses it when the lease is no
longer that token or a larger token has already written the conversation — a replica paused past
its lease (GC, SIGSTOP, a stalled VM) cannot overwrite a newer step when it wakes up.

While held, a renewer task extends the lease every third of its length, so a step may outlive the
lease (a slow provider call) as long as its process is alive; a dead or frozen process stops
renewing and its lease lapses after `lease_seconds`, freeing the conversation for another replica.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from mcproute.errors import StateError
from mcproute.state import redis_scripts
from mcproute.state.base import ConversationLocks

log = logging.getLogger("mcproute.state")


@dataclass(slots=True)
class Lease:
    """One holding of a conversation's lease. Mutable on purpose: while it is held, no other
    writer can change the conversation (the fence refuses them), so the holder may remember the
    state it last read or wrote (`seen`) instead of reading it again before its write; and a write
    that also released the lease (`released`) saves the release round trip."""

    conversation_id: str
    key: str
    token: int
    seen: Any = None  # (ConversationState | None,) once read or written under this holding
    released: bool = False


class LeaseLocks:
    def __init__(self, client: Any, prefix: str, *, lease_seconds: float, wait_seconds: float) -> None:
        self._client = client
        self._prefix = prefix
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self._local = ConversationLocks()
        self._held: dict[str, Lease] = {}  # at most one holder per conversation in this process
        self._acquire = client.register_script(redis_scripts.ACQUIRE)
        self._renew = client.register_script(redis_scripts.RENEW)
        self._release = client.register_script(redis_scripts.RELEASE)

    def __len__(self) -> int:
        return len(self._local)

    def held(self, conversation_id: str) -> Lease | None:
        """The lease this process holds on `conversation_id` (the local lock makes it the caller's)."""
        return self._held.get(conversation_id)

    @asynccontextmanager
    async def hold(self, conversation_id: str, *, renew: bool = True) -> AsyncIterator[Lease]:
        """`renew=False` for the store's own short holds (read, pure transition, write): they end
        long before the lease could lapse, so they skip the renewer task."""
        async with self._local.hold(conversation_id):
            mine = self._held.get(conversation_id)
            if mine is not None:  # re-entered by the task that holds it
                yield mine
                return
            lease = await self._take(conversation_id)
            self._held[conversation_id] = lease
            try:
                if not renew:
                    yield lease
                    return
                # The body's own exception must reach the caller unwrapped, so the renewer's task
                # group is unwrapped below (the renewer itself never raises).
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._keep, lease)
                        try:
                            yield lease
                        finally:
                            tg.cancel_scope.cancel()
                except BaseExceptionGroup as group:
                    if len(group.exceptions) == 1:
                        raise group.exceptions[0] from None
                    raise
            finally:
                del self._held[conversation_id]
                if not lease.released:
                    with anyio.move_on_after(2.0, shield=True):
                        try:
                            await self._release(keys=[lease.key], args=[lease.token])
                        except Exception as exc:  # the lease lapses by itself; the step already ran
                            log.warning("could not release the lease on conversation %r: %s", conversation_id, exc)

    async def _take(self, conversation_id: str) -> Lease:
        key = f"{self._prefix}l:{conversation_id}"
        delay = 0.002
        with anyio.move_on_after(self.wait_seconds):
            while True:
                token = int(await self._client_call(self._acquire, [key, f"{self._prefix}fence"], [self._lease_ms]))
                if token > 0:
                    return Lease(conversation_id, key, token)
                # Another replica holds it: back off with jitter (it is released at its step's end).
                await anyio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.05)
        raise StateError(
            f"conversation {conversation_id!r} is locked by another replica for more than "
            f"{self.wait_seconds:g} s; this step's state was not saved"
        )

    async def _client_call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except Exception as exc:
            raise StateError(f"Redis state store failed while taking a conversation lease: {exc}") from None

    async def _keep(self, lease: Lease) -> None:
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                if not await self._renew(keys=[lease.key], args=[lease.token, self._lease_ms]):
                    log.warning(
                        "lease on conversation %r (token %d) lapsed; this step's writes will be refused",
                        lease.conversation_id,
                        lease.token,
                    )
                    return
            except Exception as exc:  # Redis unreachable: the write will say so
                log.warning("could not renew the lease on conversation %r: %s", lease.conversation_id, exc)
