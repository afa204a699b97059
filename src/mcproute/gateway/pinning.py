"""Tool-definition pinning, the decision: pure (no I/O, the clock is an argument).

A downstream tool's *definition* is what a model reads and what decides what it sends: name,
description, input schema, output schema, annotations. It is hashed (sha256 of canonical JSON:
sorted keys, no whitespace) when first seen and pinned (trust on first use). Later listings
are compared with the pin:

    same hash            served
    new tool             pinned now, served (first-use trust)
    different hash       a change: `block` withholds the tool until `mcproute pins approve`;
                         `warn` serves the new definition (and keeps it pending, so `pins list`
                         shows it and approving silences it); `accept` re-pins it
    back to the pin      served again; the pending definition is dropped
    removed              simply not listed (its pin stays: a tool removed and re-added with
                         another definition is still a change)

`decide_pins` returns what to serve, what changed and which records to write; the gateway's
`PinGuard` (pin_guard.py) does the store I/O, logging and spans around it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from mcproute.state.pins import PinRecord

Policy = Literal["block", "warn", "accept"]
# wire key -> how a person calls it (in errors, logs and diffs); also the definition's fields.
FIELDS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "inputSchema": "input schema",
    "outputSchema": "output schema",
    "annotations": "annotations",
}


def definition(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The pinned part of a listed tool (absent fields stay absent)."""
    return {k: tool[k] for k in FIELDS if k in tool and tool[k] is not None}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def definition_hash(defn: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(defn).encode()).hexdigest()


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """Human names of the fields that differ (compared canonically: key order is not a change)."""
    return tuple(label for key, label in FIELDS.items() if canonical_json(old.get(key)) != canonical_json(new.get(key)))


@dataclass(frozen=True, slots=True)
class PinChange:
    server: str
    tool: str
    fields: tuple[str, ...]  # e.g. ("description", "input schema")
    action: Literal["withheld", "served", "re-pinned"]
    old_hash: str
    new_hash: str
    old: Mapping[str, Any]
    new: Mapping[str, Any]

    @property
    def what(self) -> str:
        return (
            " and ".join(self.fields)
            if len(self.fields) <= 2
            else ", ".join(self.fields[:-1]) + " and " + self.fields[-1]
        )


@dataclass(frozen=True, slots=True)
class PinDecision:
    served: tuple[Mapping[str, Any], ...]  # the listing's tools that may be served, in order
    changes: tuple[PinChange, ...]  # every tool whose definition differs from its pin
    new: tuple[str, ...]  # tools pinned now for the first time
    writes: tuple[PinRecord, ...]  # records to upsert (new pins, pending set or cleared, re-pins)

    @property
    def withheld(self) -> tuple[PinChange, ...]:
        return tuple(c for c in self.changes if c.action == "withheld")


def decide_pins(
    server: str,
    tools: Sequence[Mapping[str, Any]],
    pins: Mapping[str, PinRecord],
    policy: Policy,
    now: float,
    digest_of: Callable[[Mapping[str, Any]], str] | None = None,
) -> PinDecision:
    """`pins` maps the server's tool names to their records. Tools without a string name are
    passed through untouched (the catalogue drops them). `digest_of(tool)` may be given to reuse
    hashes already computed (it must equal `definition_hash(definition(tool))`)."""
    served: list[Mapping[str, Any]] = []
    changes: list[PinChange] = []
    new: list[str] = []
    writes: list[PinRecord] = []
    for tool in tools:
        name = tool.get("name")
        if not isinstance(name, str):
            served.append(tool)
            continue
        digest = digest_of(tool) if digest_of is not None else definition_hash(definition(tool))
        pin = pins.get(name)
        if pin is not None and pin.hash == digest:
            if pin.pending_hash is not None:  # it went back to what was trusted
                writes.append(replace(pin, pending_hash=None, pending_definition=None, pending_since=None))
            served.append(tool)
            continue
        defn = definition(tool)
        if pin is None:
            new.append(name)
            writes.append(PinRecord(server, name, digest, defn, now))
            served.append(tool)
            continue
        action: Literal["withheld", "served", "re-pinned"] = {
            "block": "withheld",
            "warn": "served",
            "accept": "re-pinned",
        }[policy]  # type: ignore[assignment]
        changes.append(
            PinChange(
                server, name, changed_fields(pin.definition, defn), action, pin.hash, digest, pin.definition, defn
            )
        )
        if policy == "accept":
            writes.append(PinRecord(server, name, digest, defn, now))
        elif pin.pending_hash != digest:
            writes.append(replace(pin, pending_hash=digest, pending_definition=defn, pending_since=now))
        if action != "withheld":
            served.append(tool)
    return PinDecision(tuple(served), tuple(changes), tuple(new), tuple(writes))


# ---------------------------------------------------------------- showing a change


def _lines(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if key in ("name", "description") and isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()


def unified_diff(old: Mapping[str, Any], new: Mapping[str, Any], *, label: str = "", context: int = 3) -> str:
    """A readable unified diff, field by field: descriptions as text, schemas as pretty JSON."""
    out: list[str] = []
    for key, title in FIELDS.items():
        a, b = _lines(key, old.get(key)), _lines(key, new.get(key))
        if a == b:
            continue
        where = f"{label} {title}".strip()
        out += difflib.unified_diff(a, b, f"pinned   {where}", f"pending  {where}", n=context, lineterm="")
    return "\n".join(out)


def summary(change: PinChange) -> str:
    """One line: which fields changed and by how many lines (for logs and span events)."""
    parts = []
    for key, title in FIELDS.items():
        if title not in change.fields:
            continue
        a, b = _lines(key, change.old.get(key)), _lines(key, change.new.get(key))
        added = removed = 0
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if tag != "equal":
                removed += i2 - i1
                added += j2 - j1
        parts.append(f"{title} +{added}/-{removed} lines")
    return ", ".join(parts)
