"""Learned policy versions as stored: `PolicyVersion` and the small `PolicyStore` protocol.

Every update the online learners (router/online_tier.py, router/online_tools.py) propose becomes a
version: an id, its parent, when and why, whether it was adopted or rejected (replay said it was
worse), the learners' compact state and the figures that decided it. History is append-only: a
rollback is a new adopted version carrying an older one's state, so `history` always tells what
was in force when. The version in force is the newest adopted one. Like pins and outcomes, this is
apart from `ConversationStore`: each backend (memory, SQLite, Redis) implements these four calls,
and keeps the newest `MAX_VERSIONS` (a learner state is up to ~1 MB: the bound is on disk too).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from mcproute.errors import InvalidRequest

MAX_VERSIONS = 20
# JSON of one version's learner state (two full 2,048-step memories, 1,024 tool prototypes: ~2.8 MB)
MAX_STATE_BYTES = 4_000_000
Status = Literal["adopted", "rejected"]
STATUSES: tuple[str, ...] = ("adopted", "rejected")


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    id: str
    parent: str | None
    created_at: float
    reason: str
    status: Status
    state: Mapping[str, Any]  # {"tier": TierLearner.to_dict(), "tools": ToolLearner.to_dict()}, either optional
    metrics: Mapping[str, Any]  # what decided it (replay figures, counts); small

    def summary(self) -> dict[str, Any]:
        """Everything but the learner state (what `history` shows)."""
        return {
            "id": self.id,
            "parent": self.parent,
            "created_at": self.created_at,
            "reason": self.reason,
            "status": self.status,
            "metrics": dict(self.metrics),
            "revealed": {k: v.get("revealed") for k, v in self.state.items() if isinstance(v, Mapping)},
        }

    def to_json(self) -> str:
        return encode(self)


def new_id(parent: str | None, created_at: float, state_json: str) -> str:
    """Content-derived, so two replicas proposing at once cannot collide on an id."""
    blob = f"{parent}\0{created_at!r}\0{state_json}".encode()
    return "pv-" + hashlib.sha256(blob).hexdigest()[:10]


def make(
    parent: str | None,
    created_at: float,
    reason: str,
    status: Status,
    state: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> PolicyVersion:
    state_json = json.dumps(dict(state), sort_keys=True, default=repr)  # id only: encode() refuses non-JSON
    return PolicyVersion(new_id(parent, created_at, state_json), parent, created_at, reason, status, state, metrics)


@runtime_checkable
class PolicyStore(Protocol):
    async def record_policy(self, version: PolicyVersion) -> None: ...
    async def get_policy(self, version_id: str) -> PolicyVersion | None: ...
    # Newest first, at most `limit`.
    async def list_policies(self, limit: int = MAX_VERSIONS) -> list[PolicyVersion]: ...
    # The newest adopted version, or None (the static shipped policy is in force).
    async def current_policy(self) -> PolicyVersion | None: ...


def encode(version: PolicyVersion) -> str:
    """The version as JSON, refused (naming the version and why) when malformed or too large."""
    where = f"policy version {version.id!r}"
    if not version.id or not version.id.startswith("pv-"):
        raise InvalidRequest(f"{where}: an id is 'pv-' and 10 hex digits")
    if version.status not in STATUSES:
        raise InvalidRequest(f"{where}: status must be one of {', '.join(STATUSES)}, got {version.status!r}")
    if not math.isfinite(version.created_at):
        raise InvalidRequest(f"{where}: created_at is not a finite time")
    if not isinstance(version.state, Mapping) or not isinstance(version.metrics, Mapping):
        raise InvalidRequest(f"{where}: state and metrics must be JSON objects")
    try:
        text = json.dumps(
            {
                "id": version.id,
                "parent": version.parent,
                "created_at": version.created_at,
                "reason": version.reason,
                "status": version.status,
                "state": dict(version.state),
                "metrics": dict(version.metrics),
            },
            sort_keys=True,
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{where}: not JSON ({exc})") from None
    if len(text) > MAX_STATE_BYTES:
        raise InvalidRequest(f"{where}: {len(text)} bytes, over the {MAX_STATE_BYTES} a version may hold")
    return text


def decode(text: str | bytes) -> PolicyVersion:
    from mcproute.errors import StateError

    try:
        d = json.loads(text)
        status = d["status"]
        if status not in STATUSES:
            raise ValueError(f"status {status!r}")
        return PolicyVersion(
            str(d["id"]),
            None if d["parent"] is None else str(d["parent"]),
            float(d["created_at"]),
            str(d["reason"]),
            status,
            dict(d["state"]),
            dict(d["metrics"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"unreadable policy version in the store: {exc!r}") from None


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidRequest(f"limit must be an integer from 1 to 1000, got {limit!r}")
    return limit


def rollback(target: PolicyVersion, current: PolicyVersion | None, now: float) -> PolicyVersion:
    """A new adopted version carrying `target`'s learner state: history stays append-only."""
    return make(
        current.id if current is not None else None,
        now,
        f"rollback to {target.id}",
        "adopted",
        target.state,
        {"rollback_of": target.id},
    )
