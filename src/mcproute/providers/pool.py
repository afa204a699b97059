"""Build every model, deployment and breaker from a `LoadedConfig`, over ONE shared
`httpx.AsyncClient`, and answer `chat(...)` through the reliability layer.

    async with open_pool(loaded) as pool:
        result = await pool.chat(ChatRequest.build([{"role": "user", "content": "hi"}]), tier="fast")
        result.response.text, result.attempts, result.deployment

A model whose `${VAR}` is missing is built as *unavailable* with the variable's name as the
reason (start-up, not first call); a deployment whose own key is missing is left out of its
model's rotation with the same kind of reason. Both show in `status()` / `render_status`.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

from mcproute.config import Deployment, LoadedConfig, ModelConfig, ReliabilityConfig
from mcproute.providers.anthropic import DEFAULT_BASE_URL as ANTHROPIC_URL, AnthropicProvider
from mcproute.providers.base import ChatRequest, Provider, Target
from mcproute.providers.health import CircuitBreaker, DeploymentHealth
from mcproute.providers.openai import DEFAULT_BASE_URL as OPENAI_URL, OpenAIProvider
from mcproute.providers.reliability import ChatResult, ModelEntry, ReliableChat, Route, Tier
from mcproute.providers.reliable_stream import StreamFinished, StreamStarted, stream_chat
from mcproute.providers.scripted import ScriptedProvider, load_script
from mcproute.providers.status import ModelStatus, status_rows
from mcproute.providers.streaming import TextDelta, ToolCallDelta
from mcproute.router.step import ModelSpec

PROVIDERS: dict[str, Callable[[], Provider]] = {"openai": OpenAIProvider, "anthropic": AnthropicProvider}
DEFAULT_BASE_URLS = {"openai": OPENAI_URL, "anthropic": ANTHROPIC_URL, "scripted": "scripted:"}
# Fields a deployment inherits from its model when it does not set them itself.
_INHERITED = ("api_key", "base_url", "model")


def http_client(**overrides: Any) -> httpx.AsyncClient:
    """The shared client: pooled connections, no redirects (an API that redirects a POST is
    misconfigured), and a default timeout that each attempt narrows to its own budget."""
    options: dict[str, Any] = {
        "limits": httpx.Limits(max_connections=200, max_keepalive_connections=40, keepalive_expiry=30.0),
        "timeout": httpx.Timeout(60.0, connect=10.0),
        "follow_redirects": False,
    }
    options.update(overrides)
    return httpx.AsyncClient(**options)


class ModelPool:
    def __init__(
        self,
        loaded: LoadedConfig,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
    ) -> None:
        cfg = loaded.config
        self.clock = clock
        self.entries = [build_entry(name, mc, loaded, cfg.reliability, clock) for name, mc in cfg.models.items()]
        self.engine = ReliableChat(
            self.entries,
            cfg.reliability,
            client,
            cross_tier=cfg.routing.cross_tier_fallback,
            clock=clock,
            sleep=sleep,
            rand=rand,
            wall=wall,
        )

    async def chat(
        self,
        request: ChatRequest,
        *,
        tier: Tier | None = None,
        model: str | None = None,
        preferred_deployment: str | None = None,
        deadline: float | None = None,
    ) -> ChatResult:
        """Run one model call with retries and fallbacks. `deadline` is absolute on the pool's
        clock (see `deadline_in`); default: now + `reliability.step_deadline`. Raises
        `ProviderUnavailable` (with `.attempts`) when nothing answered."""
        return await self.engine.chat(
            request, tier=tier, model=model, preferred_deployment=preferred_deployment, deadline=deadline
        )

    def stream(
        self,
        request: ChatRequest,
        *,
        tier: Tier | None = None,
        model: str | None = None,
        preferred_deployment: str | None = None,
        deadline: float | None = None,
    ) -> AsyncGenerator[StreamStarted | TextDelta | ToolCallDelta | StreamFinished, None]:
        """`chat`, streamed: retries and fallbacks only until the first delta (reliable_stream.py).
        Close it (`contextlib.aclosing`) in the task that iterates it."""
        return stream_chat(
            self.engine, request, tier=tier, model=model, preferred_deployment=preferred_deployment, deadline=deadline
        )

    def deadline_in(self, seconds: float | None = None) -> float:
        return self.engine.deadline_in(seconds)

    def healths(self) -> list[DeploymentHealth]:
        """Every deployment's live health (what shared_health.py publishes and applies)."""
        return [route.health for entry in self.entries for route in entry.routes]

    def status(self) -> list[ModelStatus]:
        return status_rows(self.entries, self.clock())

    def model_specs(self) -> list[ModelSpec]:
        """The router's view: availability includes 'every circuit is open right now'."""
        specs = []
        for row, entry in zip(self.status(), self.entries, strict=True):
            specs.append(
                ModelSpec(
                    row.name,
                    entry.tier,
                    entry.price.input,
                    entry.price.output,
                    row.state in ("available", "degraded"),
                    row.reason,
                )
            )
        return specs


def startup_status(loaded: LoadedConfig) -> list[ModelStatus]:
    """Status rows straight from the config, without a client or a running gateway: what
    `mcproute tools` / `mcproute check` show before any call (every circuit closed)."""
    cfg = loaded.config
    entries = [build_entry(name, mc, loaded, cfg.reliability, time.monotonic) for name, mc in cfg.models.items()]
    return status_rows(entries, time.monotonic())


@asynccontextmanager
async def open_pool(loaded: LoadedConfig, **kwargs: Any) -> AsyncIterator[ModelPool]:
    async with http_client() as client:
        yield ModelPool(loaded, client, **kwargs)


def build_entry(
    name: str, mc: ModelConfig, loaded: LoadedConfig, policy: ReliabilityConfig, clock: Callable[[], float]
) -> ModelEntry:
    prefix = f"models.{name}"
    model_missing = [i for i in loaded.missing_env_under(prefix) if not i.path.startswith(prefix + ".deployments")]
    fatal = [
        i for i in model_missing if i.path.removeprefix(prefix + ".").split(".")[0].split("[")[0] not in _INHERITED
    ]
    if fatal:
        return ModelEntry(name, mc.tier, mc.provider, (), mc.capabilities.tools, _env_reason(fatal), price=mc.price)
    provider: Provider
    if mc.provider == "scripted":
        try:
            provider = ScriptedProvider(load_script(mc.script), mc.model or name)
        except ValueError as exc:
            return ModelEntry(
                name, mc.tier, mc.provider, (), mc.capabilities.tools, f"models.{name}.script: {exc}", price=mc.price
            )
    else:
        provider = PROVIDERS[mc.provider]()
    routes: list[Route] = []
    down: dict[str, str] = {}
    for i, dep in enumerate(mc.deployments or [Deployment()]):
        key = f"{name}#{i}"
        missing = loaded.missing_env_under(f"{prefix}.deployments[{i}]")
        missing += [m for m in model_missing if getattr(dep, m.path.rsplit(".", 1)[-1], None) is None]
        if missing:
            down[key] = _env_reason(missing)
            continue
        target = Target(
            base_url=dep.base_url or mc.base_url or DEFAULT_BASE_URLS[mc.provider],
            model=dep.model or mc.model or name,
            api_key=dep.api_key or mc.api_key,
            deployment=key,
            timeout=mc.timeout,
            reasoning=mc.capabilities.reasoning,
            default_reasoning_effort=mc.reasoning_effort,
            default_thinking_budget=mc.thinking_budget,
        )
        health = DeploymentHealth(
            key, dep.weight, CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown, clock)
        )
        routes.append(Route(name, mc.tier, mc.provider, provider, target, mc.price, health))
    reason = "" if routes else "; ".join(dict.fromkeys(down.values()))
    return ModelEntry(name, mc.tier, mc.provider, tuple(routes), mc.capabilities.tools, reason, down, mc.price)


def _env_reason(issues: list[Any]) -> str:
    # The config's own message ("... is not set" / "... is empty"), once per variable.
    by_name = {i.variable: i.message for i in issues if i.variable}
    if len(by_name) == 1:
        return next(iter(by_name.values()))
    return f"environment variables {', '.join(by_name)} are not set or empty"
