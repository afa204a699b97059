"""Conversation state: the `ConversationStore` protocol and its two implementations.

`open_store(config.state, data_dir)` returns the configured store; if SQLite cannot be opened at
all (an unwritable directory, say) it falls back to the in-memory store and says why in
`store.recovered`, so a bad state file never stops the gateway from starting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread

from mcproute.config import StateConfig
from mcproute.errors import StateError
from mcproute.state.base import ConversationStore, FeedbackStats, StepRecord, TierFeedback, Transition
from mcproute.state.memory import MemoryStore
from mcproute.state.outcomes import OutcomeRecord, OutcomeStore
from mcproute.state.pins import PinRecord, PinStore
from mcproute.state.policies import PolicyStore, PolicyVersion
from mcproute.state.sessions import SessionRecord, SessionStore
from mcproute.state.sqlite import SqliteStore

__all__ = [
    "ConversationStore",
    "FeedbackStats",
    "MemoryStore",
    "OutcomeRecord",
    "OutcomeStore",
    "PinRecord",
    "PinStore",
    "PolicyStore",
    "PolicyVersion",
    "SessionRecord",
    "SessionStore",
    "SqliteStore",
    "StepRecord",
    "TierFeedback",
    "Transition",
    "open_store",
    "state_path",
]

log = logging.getLogger("mcproute.state")


def state_path(config: StateConfig, data_dir: str | Path) -> Path:
    """`state.path` if set (relative paths are relative to the data directory), else `<data_dir>/state.sqlite3`."""
    base = Path(data_dir)
    if config.path is None:
        return base / "state.sqlite3"
    path = Path(config.path).expanduser()
    return path if path.is_absolute() else base / path


async def open_store(
    config: StateConfig, data_dir: str | Path, *, clock: Callable[[], float] = time.time
) -> ConversationStore:
    if config.backend == "memory":
        return MemoryStore(ttl_seconds=config.ttl_seconds, max_conversations=config.max_conversations, clock=clock)
    if config.backend == "redis":
        return await _open_redis(config, clock)
    path = state_path(config, data_dir)
    try:
        return await anyio.to_thread.run_sync(
            lambda: SqliteStore(
                path, ttl_seconds=config.ttl_seconds, max_conversations=config.max_conversations, clock=clock
            )
        )
    except (StateError, OSError) as exc:
        store = MemoryStore(ttl_seconds=config.ttl_seconds, max_conversations=config.max_conversations, clock=clock)
        store.recovered = f"cannot use state file {path} ({exc}); conversations are kept in memory for this run only"
        log.error("%s", store.recovered)
        return store


async def _open_redis(config: StateConfig, clock: Callable[[], float]) -> ConversationStore:
    """The shared store; if Redis cannot be reached at start, memory for this run (said in
    `store.recovered`), like an unusable SQLite file: the gateway starts, no crash loop."""
    from mcproute.state.redis_store import RedisStore  # lazily: redis-py is an optional extra

    assert config.url is not None  # StateConfig refuses backend redis without a url
    try:
        store = RedisStore(
            config.url,
            prefix=config.key_prefix,
            ttl_seconds=config.ttl_seconds,
            max_conversations=config.max_conversations,
            lease_seconds=config.lease_seconds,
            lock_wait_seconds=config.lock_wait_seconds,
            clock=clock,
        )
    except StateError as exc:
        return _memory_instead(config, clock, f"cannot use the Redis state store ({exc})")
    try:
        with anyio.fail_after(5):
            await store.ping()
    except (StateError, TimeoutError) as exc:
        await store.close()
        return _memory_instead(
            config, clock, f"cannot reach the Redis state store at {_redacted(config.url)} ({exc or 'timed out'})"
        )
    return store


def _memory_instead(config: StateConfig, clock: Callable[[], float], why: str) -> MemoryStore:
    store = MemoryStore(ttl_seconds=config.ttl_seconds, max_conversations=config.max_conversations, clock=clock)
    store.recovered = f"{why}; conversations are kept in memory for this run only (not shared with other replicas)"
    log.error("%s", store.recovered)
    return store


def _redacted(url: str) -> str:
    """The URL without its password (it goes to logs and /status)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
