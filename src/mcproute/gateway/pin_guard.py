"""`PinGuard`: tool-definition pinning at the edge — the store I/O, logs and spans around the
pure decision in pinning.py.

The gateway asks it, on every catalogue rebuild (synchronous and cheap), which tools of each
listing may be served; it answers from its in-memory copy of the pins, applies the decision's
writes to that copy at once, and queues them for the store. Its background task (in the
gateway's task group) writes the queue, then re-reads every pin from the store, at once after a
write and otherwise every `poll` seconds: a `mcproute pins approve` in another process lands in
the store, the re-read sees a record that differs from the copy, and the gateway rebuilds its
catalogue — the approved tool is listed again within one poll, and clients get list_changed.

Each (server, tool, definition) is announced once per process: a log line and an event on one
`mcproute.pins` span per sync that pinned, changed or flagged something.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import anyio
from opentelemetry import trace

from mcproute.config import ServerConfig
from mcproute.errors import StateError
from mcproute.gateway.catalog import Listing, tool_allowed
from mcproute.gateway.pinning import (
    PinChange,
    PinDecision,
    decide_pins,
    definition,
    definition_hash,
    summary,
    unified_diff,
)
from mcproute.gateway.tool_flags import tool_flags
from mcproute.state.pins import PinRecord, PinStore
from mcproute.telemetry import semconv as sc

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer(sc.TRACER_NAME)
POLL_SECONDS = 2.0
MAX_DIFF_CHARS = 4000  # per span event: enough for a description and a schema, bounded for the exporter


def withheld_reason(change: PinChange) -> str:
    """Why a call to a withheld tool fails, and what to do about it (the caller adds the tool's name)."""
    target = f"{change.server}/{change.tool}"
    return (
        f"server {change.server!r} changed its {change.what} since it was pinned "
        f"(sha256 {change.old_hash[:12]} -> {change.new_hash[:12]}); it is withheld until a person reviews "
        f"`mcproute pins diff {target}` and runs `mcproute pins approve {target}`"
    )


class PinGuard:
    def __init__(
        self,
        store: PinStore,
        servers: Mapping[str, ServerConfig],
        *,
        clock: Callable[[], float] = time.time,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.servers = servers
        self.clock = clock
        self.poll = poll
        self.pins: dict[tuple[str, str], PinRecord] = {}
        self._queue: dict[tuple[str, str], PinRecord] = {}
        self._dirty = anyio.Event()
        self._announced: set[tuple[str, str, str]] = set()  # (server, tool, definition hash)
        self.withheld: dict[tuple[str, str], PinChange] = {}  # as of the last apply()
        self.loaded = False  # the gateway judges listings only once the stored pins are in
        self._version: int | None = None  # the store's pins_version() when last read
        # id(tool dict) -> (the dict, its definition hash): a listing's dicts live until it is
        # re-listed, so a rebuild (health change, another server's change) hashes nothing again.
        self._digests: dict[int, tuple[Mapping[str, Any], str]] = {}

    async def load(self) -> None:
        try:
            self._version = await self.store.pins_version()
            self.pins = await self.store.load_pins()
        except StateError as exc:
            # The store already fell back or will recover; pins then start afresh (first use).
            logger.error("tool-definition pins cannot be read (%s); every tool is trusted on first use this run", exc)
        self.loaded = True

    # ------------------------------------------------------------ the decision, per rebuild

    def apply(self, listings: Mapping[str, Listing]) -> tuple[dict[str, Listing], dict[tuple[str, str], str]]:
        """Listings with withheld tools removed, and (server, tool) -> why each was withheld."""
        out: dict[str, Listing] = {}
        reasons: dict[tuple[str, str], str] = {}
        decisions: dict[str, PinDecision] = {}
        withheld: dict[tuple[str, str], PinChange] = {}
        now = self.clock()
        for server, listing in listings.items():
            cfg = self.servers.get(server)
            if cfg is None:
                out[server] = listing
                continue
            # Tools the config hides are neither pinned nor judged: nobody can see or call them.
            judged = [t for t in listing.tools if isinstance(t.get("name"), str) and tool_allowed(t["name"], cfg)]
            pins = {tool: rec for (srv, tool), rec in self.pins.items() if srv == server}
            decision = decide_pins(server, judged, pins, cfg.pins.policy, now, digest_of=self._digest)
            decisions[server] = decision
            for rec in decision.writes:
                self.pins[rec.key] = rec
                self._queue[rec.key] = rec
            for change in decision.withheld:
                withheld[(server, change.tool)] = change
                reasons[(server, change.tool)] = withheld_reason(change)
            if decision.withheld:
                gone = {c.tool for c in decision.withheld}
                out[server] = replace(listing, tools=tuple(t for t in listing.tools if t.get("name") not in gone))
            else:
                out[server] = listing
        self.withheld = withheld
        live = {id(t) for listing in listings.values() for t in listing.tools}
        self._digests = {k: v for k, v in self._digests.items() if k in live}  # forget re-listed dicts
        if self._queue:
            self._dirty.set()
        self._announce(listings, decisions)
        return out, reasons

    def _digest(self, tool: Mapping[str, Any]) -> str:
        hit = self._digests.get(id(tool))
        if hit is not None and hit[0] is tool:
            return hit[1]
        digest = definition_hash(definition(tool))
        self._digests[id(tool)] = (tool, digest)
        return digest

    # ------------------------------------------------------------ logs and spans

    def _announce(self, listings: Mapping[str, Listing], decisions: Mapping[str, PinDecision]) -> None:
        new: dict[str, list[str]] = {}
        changes: list[PinChange] = []
        flagged: list[tuple[str, str, tuple[str, ...]]] = []
        for server, decision in decisions.items():
            changed = {c.tool: c for c in decision.changes}
            for tool in listings[server].tools:
                name = tool.get("name")
                if not isinstance(name, str) or not tool_allowed(name, self.servers[server]):
                    continue
                key = (server, name, self._digest(tool))
                if key in self._announced:
                    continue
                self._announced.add(key)
                if name in decision.new:
                    new.setdefault(server, []).append(name)
                if name in changed:
                    changes.append(changed[name])
                if found := tool_flags(tool):
                    flagged.append((server, name, found))
        if not (new or changes or flagged):
            return
        with _tracer.start_as_current_span(sc.PINS_SPAN_NAME) as span:
            span.set_attribute(sc.PINS_NEW, sum(len(v) for v in new.values()))
            span.set_attribute(sc.PINS_CHANGED, len(changes))
            span.set_attribute(sc.PINS_WITHHELD, [f"{c.server}/{c.tool}" for c in changes if c.action == "withheld"])
            span.set_attribute(sc.TOOLS_FLAGGED, [f"{srv}/{tool}: {','.join(f)}" for srv, tool, f in flagged])
            for server, tools in new.items():
                logger.info(
                    "server %r: pinned %d tool definition(s) on first use: %s", server, len(tools), ", ".join(tools)
                )
                span.add_event(sc.PIN_EVENT_NEW, {sc.SERVER: server, sc.PIN_TOOLS: tools})
            for c in changes:
                self._announce_change(span, c)
            for srv, name, found in flagged:
                logger.warning(
                    "server %r: tool %r has instruction-like text aimed at the model (%s); review it with "
                    "`mcproute tools`",
                    srv,
                    name,
                    ", ".join(found),
                )
                span.add_event(
                    sc.PIN_EVENT_FLAGGED, {sc.SERVER: srv, sc.DOWNSTREAM_TOOL: name, sc.TOOL_FLAGS: list(found)}
                )

    def _announce_change(self, span: Any, c: PinChange) -> None:
        policy = self.servers[c.server].pins.policy
        what = summary(c)
        target = f"{c.server}/{c.tool}"
        if c.action == "withheld":
            logger.warning(
                "server %r changed pinned tool %r (%s): withheld until approved; review with "
                "`mcproute pins diff %s`, approve with `mcproute pins approve %s`",
                c.server,
                c.tool,
                what,
                target,
                target,
            )
        elif c.action == "served":
            logger.warning(
                "server %r changed pinned tool %r (%s): served anyway (pins.policy: warn); "
                "`mcproute pins diff %s` shows it",
                c.server,
                c.tool,
                what,
                target,
            )
        else:
            logger.info(
                "server %r changed pinned tool %r (%s): re-pinned (pins.policy: accept)", c.server, c.tool, what
            )
        diff = unified_diff(c.old, c.new, label=target)
        span.add_event(
            sc.PIN_EVENT_CHANGED,
            {
                sc.SERVER: c.server,
                sc.DOWNSTREAM_TOOL: c.tool,
                sc.PIN_FIELDS: list(c.fields),
                sc.PIN_ACTION: c.action,
                sc.PIN_POLICY: policy,
                sc.PIN_OLD_HASH: c.old_hash,
                sc.PIN_NEW_HASH: c.new_hash,
                sc.PIN_SUMMARY: what,
                sc.PIN_DIFF: diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n... (truncated)",
            },
        )

    # ------------------------------------------------------------ the store, in the background

    async def run(self, rebuild: Callable[[], None]) -> None:
        """Write queued pins, re-read the store; forever (cancelled with the gateway)."""
        while True:
            with anyio.move_on_after(self.poll):
                await self._dirty.wait()
            self._dirty = anyio.Event()
            await self.sync(rebuild)

    async def flush(self) -> bool:
        """Write the queued records; False if the store refused (they stay queued)."""
        if not self._queue:
            return True
        batch = list(self._queue.values())
        try:
            await self.store.save_pins(batch)
        except StateError as exc:
            logger.error("tool-definition pins not saved (will retry): %s", exc)
            return False
        for rec in batch:
            if self._queue.get(rec.key) is rec:  # not replaced by a newer decision meanwhile
                del self._queue[rec.key]
        return True

    async def sync(self, rebuild: Callable[[], None]) -> None:
        if not await self.flush():
            return
        try:
            version = await self.store.pins_version()
            if version == self._version:
                return  # nobody else wrote: our copy is the store's
            stored = await self.store.load_pins()
        except StateError as exc:
            logger.error("tool-definition pins cannot be re-read: %s", exc)
            return
        self._version = version
        merged = {**stored, **self._queue}
        if merged != self.pins:
            # Someone else wrote (an approval from `mcproute pins approve`, another replica).
            self.pins = merged
            rebuild()
