"""Wires `mcproute.access` into the engine: the gateway's `access`, the per-client view the
router decides on, the stdio limits hook, and spend after each step.

The router stays pure and policy-blind: a client's decision is made over `PolicyIndex` (the
shared index with that client's hidden tools cut from every ranking) and over only the models the
client may use, so the router's own "best allowed" logic (a tier with no usable model falls
back to the other) picks for it. Nothing else in a decision changes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mcp.shared.exceptions import MCPError

from mcproute.access import Access, Policy
from mcproute.errors import ClientLimitExceeded
from mcproute.gateway.http_quota import LIMIT_ERROR_CODE, SPENDING_TOOLS, limit_error_data
from mcproute.gateway.routing import CallNext, ToolCall
from mcproute.router.tools import RetrievalContext

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine

log = logging.getLogger("mcproute.access")


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyIndex:
    """A `ToolIndexLike` that ranks the shared index and keeps what `allowed` lets through.

    It asks the index for more than `k` so that hiding tools does not leave a client with a short
    list; the index's no-tool verdict is the whole catalogue's (a hidden tool that fits the step
    best still means "a tool fits", and the client then gets its best allowed one)."""

    index: Any
    allowed: Callable[[str], bool]

    def rank(self, text: str, *, context: RetrievalContext | None = None, k: int = 10, vector: Any = None) -> Any:
        ranking = self.index.rank(text, context=context, k=max(4 * k, 50), vector=vector)
        kept = tuple(c for c in ranking.candidates if self.allowed(c.name))[:k]
        return dataclasses.replace(ranking, candidates=kept, no_tool=ranking.no_tool or not kept)


def install_access(engine: Engine) -> Callable[[], None]:
    """Set `gateway.access` (counters in the engine's store) and the stdio limits hook."""
    counters = engine.store if hasattr(engine.store, "take") else None
    if counters is None and any(c.limits != type(c.limits)() for c in engine.config.clients.values()):
        log.warning(
            "mcproute: the %s state store keeps no counters: client limits count in memory and reset on restart",
            engine.config.state.backend,
        )
    access = Access(engine.config, counters, clock=engine.clock)  # type: ignore[arg-type]
    engine.gateway.access = access

    async def stdio_limits(call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        # Over HTTP the LimitGuard counted this call before the SDK saw it; here only a stdio
        # client's own requests count (not the engine's calls on a step's behalf).
        if call.headers is None and call.route.ctx is not None:
            try:
                await access.check_tool_call(access.stdio_client, spends=call.name in SPENDING_TOOLS)
            except ClientLimitExceeded as exc:
                raise MCPError(code=LIMIT_ERROR_CODE, message=str(exc), data=limit_error_data(exc)) from None
        return await call_next(call)

    remove = engine.gateway.add_call_hook(stdio_limits) if access.stdio_client is not None else (lambda: None)

    def uninstall() -> None:
        remove()
        engine.gateway.access = None

    return uninstall


def client_policy(engine: Engine, headers: Mapping[str, str] | None) -> tuple[str | None, Policy]:
    access: Access | None = engine.gateway.access
    if access is None:
        from mcproute.access import FULL_ACCESS

        return None, FULL_ACCESS
    client = access.principal(headers)
    return client, access.policy(client)


def policy_index(engine: Engine, policy: Policy) -> Any:
    if policy.unrestricted_tools:
        return engine.index
    specs = engine.tool_map()
    return PolicyIndex(engine.index, lambda name: name in specs and policy.allows_tool(name, specs[name].server))


def allowed_models(policy: Policy, models: Sequence[Any]) -> list[Any]:
    return list(models) if policy.client is None else policy.allowed_models(models)


async def record_spend(engine: Engine, headers: Mapping[str, str] | None, usd: float) -> None:
    access: Access | None = engine.gateway.access
    if access is not None:
        await access.spend(headers, usd)


def check_hints(policy: Policy, hints: Any, config: Any) -> None:
    """A step that asks for a model or tier its client may not use is refused, as an unknown model
    would be (a hidden model is unknown to that client, like a hidden tool)."""
    if hints is None or policy.client is None:
        return
    from mcproute.errors import InvalidRequest

    model = getattr(hints, "model_override", None)
    if model and not (model in config.models and policy.allows_model(model, config.models[model].tier)):
        raise InvalidRequest(f"unknown model {model!r}")
    tier = getattr(hints, "tier_override", None)
    if tier and tier not in policy.tiers:
        raise InvalidRequest(f"tier {tier!r} is not available")
