"""The reply cache in front of the model call (`cache:`; docs/cache.md).

    cache = ReplyCache.from_config(config.cache)              # one per engine, in memory
    lookup = cache.lookup(engine, step, request, headers)      # exact, then similar; span attributes set
    if lookup.chat is None:                                    # a miss: ask the model
        ...
        cache.store(lookup, chat)                              # only a whole, valid, uncascaded answer

It keeps model replies, never tool results: a hit on `run_step` hands back the model's tool
call, and the engine executes it again like any other. Entries live in memory (an LRU bounded by
`max_entries`, each valid for `ttl_s`), keyed by `cache_key.request_keys`: the client is part of
every key, so a reply is never served across clients. Errors never reach it (only an answer is
stored; a stream only once it ended whole), and a streamed request's hit is replayed as the
stream events a provider would send (`replayed`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mcproute.errors import ModelToolCallError
from mcproute.providers import ChatRequest, ChatResponse, ChatResult, ToolDef, Usage, validate_tool_calls
from mcproute.providers.reliable_stream import StreamFinished, StreamStarted
from mcproute.providers.streaming import TextDelta, ToolCallDelta
from mcproute.runtime.cache_key import (
    NO_CACHE,
    NO_STORE,
    SHIPPED_SIMILARITY,
    CacheKeys,
    Question,
    request_keys,
    similar_hit,
    tools_version,
)
from mcproute.runtime.messages import step_text
from mcproute.telemetry import semconv as sc

if TYPE_CHECKING:
    from mcproute.config import CacheConfig
    from mcproute.runtime.engine import Engine, OpenStep

# A similarity lookup compares the step vector with at most this many of the scope's newest
# entries: one small product, bounded whatever the traffic.
SCAN = 256


@dataclass(frozen=True, slots=True)
class Entry:
    scope: str
    response: ChatResponse
    model: str
    deployment: str
    tier: str
    cost_usd: float  # what the answer cost: what a hit saves
    stored_at: float
    vector: np.ndarray | None  # the step vector (similarity tier), or None
    question: Question | None  # what the similarity guard compares, or None


@dataclass(frozen=True, slots=True)
class Lookup:
    """One request's cache verdict. `keys` is None when the cache stays out of it (off, bypassed)."""

    keys: CacheKeys | None
    chat: ChatResult | None = None  # the hit, as a ChatResult with no attempts
    kind: str = ""  # exact | similar
    similarity: float | None = None
    saved_usd: float = 0.0
    store: bool = False  # a fresh answer may be stored
    vector: Any = None
    question: Question | None = None


def directives(headers: Mapping[str, str] | None) -> set[str]:
    """The request's Cache-Control directives (RFC 9111 request side), lower-cased."""
    if not headers:
        return set()
    raw = next((v for k, v in headers.items() if k.lower() == "cache-control"), "")
    return {d.strip().split("=", 1)[0].lower() for d in raw.split(",") if d.strip()}


class ReplyCache:
    def __init__(
        self,
        *,
        enabled: bool = True,
        ttl_s: float = 600.0,
        max_entries: int = 10_000,
        similarity: float | None = None,
        max_temperature: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.similarity = similarity  # None: the similarity tier is off
        self.max_temperature = max_temperature
        self.clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # exact key -> entry, least recent first
        self._scopes: dict[str, dict[str, None]] = {}  # scope -> its exact keys, oldest first
        self._catalog: tuple[object, str] = (None, "")
        self.counts = {"exact": 0, "similar": 0, "miss": 0, "stored": 0, "evicted": 0, "expired": 0}

    @classmethod
    def from_config(cls, cfg: CacheConfig, *, clock: Callable[[], float] = time.monotonic) -> ReplyCache:
        sim = cfg.similarity
        threshold = None if sim is False else SHIPPED_SIMILARITY if sim is True else float(sim)
        return cls(
            enabled=cfg.enabled,
            ttl_s=cfg.ttl_s,
            max_entries=cfg.max_entries,
            similarity=threshold,
            max_temperature=cfg.max_temperature,
            clock=clock,
        )

    def __len__(self) -> int:
        return len(self._entries)

    def status(self) -> dict[str, Any]:
        """For `/status`: on or off, the similarity threshold, entries and counts since start."""
        return {
            "enabled": self.enabled,
            "similarity": self.similarity,
            "entries": len(self._entries),
            "max_entries": self.max_entries,
            "ttl_s": self.ttl_s,
            **self.counts,
        }

    # ------------------------------------------------------------ the store

    def get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry.stored_at > self.ttl_s:
            self._drop(key)
            self.counts["expired"] += 1
            return None
        self._entries.move_to_end(key)
        return entry

    def nearest(self, scope: str, vector: np.ndarray, found: Question) -> tuple[Entry, float] | None:
        """The scope's most similar live entry that passes the threshold and the anchor guard."""
        if self.similarity is None:
            return None
        keys = list(self._scopes.get(scope, ()))[-SCAN:]
        now = self.clock()
        live = [
            (k, e)
            for k in keys
            if (e := self._entries.get(k)) is not None and e.vector is not None and now - e.stored_at <= self.ttl_s
        ]
        if not live:
            return None
        sims = np.stack([e.vector for _, e in live if e.vector is not None]) @ vector
        for i in np.argsort(-sims):
            cos = float(sims[i])
            if cos < self.similarity:
                break
            key, entry = live[int(i)]
            if entry.question is not None and similar_hit(cos, self.similarity, entry.question, found):
                self._entries.move_to_end(key)
                return entry, cos
        return None

    def put(self, key: str, entry: Entry) -> None:
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._scopes.setdefault(entry.scope, {})[key] = None
        self.counts["stored"] += 1
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))
            self.counts["evicted"] += 1

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        bucket = self._scopes.get(entry.scope)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._scopes[entry.scope]

    # ------------------------------------------------------------ in front of the model call

    def catalog_version(self, engine: Engine) -> str:
        tools = engine.tool_map()  # one dict per catalogue: its identity is the version
        cached_for, version = self._catalog
        if cached_for is not tools:
            version = tools_version(tools)
            self._catalog = (tools, version)
        return version

    def lookup(
        self,
        engine: Engine,
        step: OpenStep,
        request: ChatRequest,
        headers: Mapping[str, str] | None,
        *,
        client: str | None,
    ) -> Lookup:
        """Exact match, then (when on) the most similar reworded question in the same scope."""
        if not self.enabled:
            return Lookup(None)
        span, decision = step.span, step.decision
        said = directives(headers)
        bypass = (
            NO_STORE
            if NO_STORE in said
            else "temperature"
            if request.temperature is not None and request.temperature > self.max_temperature
            else None
        )
        if bypass is not None:
            span.set_attribute(sc.CACHE_BYPASS, bypass)
            return Lookup(None)
        keys = request_keys(
            request, client=client, tier=decision.tier, model=decision.model, catalog=self.catalog_version(engine)
        )
        vector = step.vector if keys.similar and self.similarity is not None else None
        found = Question.of(step_text(list(request.messages))) if vector is not None else None
        if NO_CACHE in said:
            span.set_attribute(sc.CACHE_BYPASS, NO_CACHE)  # not read, but the fresh answer is stored
            return Lookup(keys, store=True, vector=vector, question=found)
        hit: tuple[Entry, float] | None = None
        kind = "exact"
        entry = self.get(keys.exact)
        if entry is not None:
            hit = (entry, 1.0)
        elif vector is not None and found is not None:
            hit, kind = self.nearest(keys.scope, vector, found), "similar"
        span.set_attribute(sc.CACHE_HIT, hit is not None)
        if hit is None:
            self.counts["miss"] += 1
            return Lookup(keys, store=True, vector=vector, question=found)
        entry, cos = hit
        self.counts[kind] += 1
        span.set_attribute(sc.CACHE_KIND, kind)
        span.set_attribute(sc.CACHE_SIMILARITY, round(cos, 4))
        span.set_attribute(sc.CACHE_SAVED_USD, entry.cost_usd)
        span.set_attribute(sc.CACHE_AGE_S, round(self.clock() - entry.stored_at, 3))
        chat = ChatResult(_fresh(entry.response), (), entry.model, entry.deployment, entry.tier, kind)
        return Lookup(keys, chat, kind, cos, entry.cost_usd, False, vector, found)

    def usable(self, lookup: Lookup, tools: Sequence[ToolDef], span: Any) -> ChatResult | None:
        """The hit, if its tool calls still validate against the tools offered now (else a miss)."""
        if lookup.chat is None:
            return None
        try:
            validate_tool_calls(lookup.chat.response, tools)
        except ModelToolCallError:
            span.set_attribute(sc.CACHE_HIT, False)
            return None
        return lookup.chat

    def store(self, lookup: Lookup, chat: ChatResult, span: Any) -> None:
        """Keep a whole answer for the requests that may reuse it."""
        if lookup.keys is None or not lookup.store:
            return
        entry = Entry(
            lookup.keys.scope,
            chat.response,
            chat.model,
            chat.deployment,
            chat.tier,
            chat.cost_usd,
            self.clock(),
            lookup.vector if lookup.keys.similar else None,
            lookup.question,
        )
        self.put(lookup.keys.exact, entry)
        span.set_attribute(sc.CACHE_STORED, True)


async def replayed(
    chat: ChatResult,
) -> AsyncGenerator[StreamStarted | TextDelta | ToolCallDelta | StreamFinished, None]:
    """A cached reply as the events `ModelPool.stream` yields: who answers, the text in one
    delta, each tool call in one delta, the end (the SSE writers turn them into chunks)."""
    r = chat.response
    yield StreamStarted(chat.model, chat.deployment, chat.tier, r.provider, chat.cached)
    if r.text:
        yield TextDelta(r.text)
    for i, call in enumerate(r.tool_calls):
        yield ToolCallDelta(i, call.id, call.name, json.dumps(dict(call.arguments)))
    yield StreamFinished(chat)


def _fresh(response: ChatResponse) -> ChatResponse:
    """The stored reply as a new one: no tokens were used for it, and its tool calls get new ids
    (a client that repeats a question in one conversation must not see one call id twice)."""
    calls = tuple(replace(c, id="call_" + uuid.uuid4().hex[:24]) for c in response.tool_calls)
    return replace(response, tool_calls=calls, usage=Usage(), cost_usd=0.0)
