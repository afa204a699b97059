"""Tool-definition pins as stored: `PinRecord` and the small `PinStore` protocol.

Kept apart from `ConversationStore` on purpose: pins are a security record (what a person
trusted), not routing state, and a store may implement one without the other. The SQLite and
memory stores implement both; the pin decision itself is pure (gateway/pinning.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class PinRecord:
    """One downstream tool's trusted definition, and the one waiting for approval (if any).

    `server` is the configured server name, `tool` the downstream's own tool name (not the
    namespaced one: a prefix change must not look like a new tool)."""

    server: str
    tool: str
    hash: str  # sha256 of the canonical JSON of `definition`
    definition: Mapping[str, Any]
    pinned_at: float
    pending_hash: str | None = None
    pending_definition: Mapping[str, Any] | None = None
    pending_since: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.tool)

    @property
    def status(self) -> str:
        return "changed-pending" if self.pending_hash is not None else "pinned"

    def approved(self, now: float) -> PinRecord:
        """The pending definition becomes the pinned one."""
        if self.pending_hash is None or self.pending_definition is None:
            return self
        return replace(
            self,
            hash=self.pending_hash,
            definition=self.pending_definition,
            pinned_at=now,
            pending_hash=None,
            pending_definition=None,
            pending_since=None,
        )


def select(records: Sequence[PinRecord], target: str | None) -> list[PinRecord]:
    """Records matching `SERVER` or `SERVER/TOOL` (None: all). The split is at the first `/`:
    server names cannot contain one (config refuses it), tool names may."""
    if not target:
        return list(records)
    server, slash, tool = target.partition("/")
    return [r for r in records if r.server == server and (not slash or r.tool == tool)]


@runtime_checkable
class PinStore(Protocol):
    async def load_pins(self) -> dict[tuple[str, str], PinRecord]: ...
    async def save_pins(self, records: Sequence[PinRecord]) -> None: ...  # upsert by (server, tool)
    # Re-pin every matching record that has a pending definition; returns the approved ones.
    async def approve_pins(self, target: str | None, now: float) -> list[PinRecord]: ...
    # Changes whenever *someone else* may have written pins (SQLite: another connection committed),
    # so a gateway polling for approvals reads the table only when it may have changed.
    async def pins_version(self) -> int: ...
