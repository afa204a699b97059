"""The reliability layer: one `chat` call = a sequence of recorded attempts across deployments,
then models of the same tier (then the other tier, only if configured), within one deadline.

Policy, per failure type of one attempt:
- 429                     the deployment is saturated, not broken: it cools off for Retry-After
                          (or one backoff step) and the next deployment/model is tried at once;
- 5xx / 529 / timeout /   the breaker counts a failure (N in a row open the circuit) and the
  connection / bad reply  next deployment is tried at once;
- 401 / 403 / 404         the key or endpoint is wrong: counted like an outage, next deployment;
- 400 / 413 / 422         the request itself is refused: stop and raise it, since sending the
                          same body elsewhere would fail the same way (and cost money).

When every candidate has been tried in a round, the layer sleeps (exponential backoff with
jitter, or until the earliest Retry-After / probe time, whichever is later) and starts a new
round — unless that wake-up falls past the deadline, in which case it gives up at once rather
than sleeping into certain failure. Deployments with an open circuit are skipped without a
call and recorded as `skipped`, so "why was this slow / why did it fail" is always answered by
the attempts list. Clock, sleep, randomness and wall clock are injected.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import anyio
import httpx

from mcproute.config import Price, ReliabilityConfig
from mcproute.errors import (
    InvalidRequest,
    ProviderError,
    ProviderProtocolError,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from mcproute.providers.balance import BALANCERS, Balancer
from mcproute.providers.base import ChatRequest, ChatResponse, Provider, Target, cost_usd
from mcproute.providers.health import DeploymentHealth

log = logging.getLogger("mcproute.providers")

Tier = Literal["reasoning", "fast"]
Outcome = Literal["ok", "error", "skipped"]
_STOP_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try against one deployment (or a deployment skipped without a call)."""

    model: str  # logical model name from servers.yaml
    deployment: str  # "<model>#<index>"
    provider: str
    tier: str
    upstream_model: str
    started_at: float  # injected (monotonic) clock
    ended_at: float
    started_unix: float  # wall clock, for span timestamps
    outcome: Outcome
    error_type: str | None = None  # ProviderError.error_type, "circuit_open", "rate_limited", ...
    status: int | None = None
    retry_after: float | None = None
    message: str = ""  # redacted: never holds a key or prompt text
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_usd: float = 0.0
    endpoint: str = ""  # host[:port] of the deployment (`server.address`), never a key
    circuit: str = "closed"  # the breaker's state when the attempt started (half_open = a probe)
    first_chunk_s: float | None = None  # streamed attempts: seconds from the request to the first delta

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ChatResult:
    response: ChatResponse
    attempts: tuple[Attempt, ...]
    model: str
    deployment: str
    tier: str
    cached: str = ""  # "exact" | "similar": replayed from the reply cache (runtime/reply_cache.py)

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.attempts)


@dataclass(frozen=True, eq=False)
class Route:
    """One deployment of one logical model: all an attempt needs. `health` is the live state."""

    model: str
    tier: Tier
    provider_name: str
    provider: Provider
    target: Target
    price: Price
    health: DeploymentHealth

    @property
    def key(self) -> str:
        return self.health.key

    @property
    def endpoint(self) -> str:
        return endpoint_of(self.target.base_url)


@dataclass(frozen=True, eq=False)
class ModelEntry:
    name: str
    tier: Tier
    provider_name: str
    routes: tuple[Route, ...]
    supports_tools: bool = True
    unavailable_reason: str = ""  # non-empty = not callable (missing key, bad script)
    unavailable_deployments: dict[str, str] = field(default_factory=dict)
    price: Price = field(default_factory=Price)

    @property
    def available(self) -> bool:
        return not self.unavailable_reason and bool(self.routes)


def endpoint_of(url: str) -> str:
    """host[:port] of a base URL: what status rows and spans show (never a path or query)."""
    if url.startswith("scripted:"):
        return "(script)"
    u = httpx.URL(url)
    return f"{u.host}:{u.port}" if u.port else u.host


class ReliableChat:
    def __init__(
        self,
        models: Sequence[ModelEntry],
        policy: ReliabilityConfig,
        client: httpx.AsyncClient,
        *,
        cross_tier: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.models = {m.name: m for m in models}
        self.policy = policy
        self.client = client
        self.cross_tier = cross_tier
        self.clock, self.sleep, self.rand, self.wall = clock, sleep, rand, wall
        self.balancer: Balancer = BALANCERS[policy.balancing]()

    def deadline_in(self, seconds: float | None = None) -> float:
        """An absolute deadline on the injected clock, shareable by every call of one step."""
        return self.clock() + (self.policy.step_deadline if seconds is None else seconds)

    def chain(self, tier: Tier | None, model: str | None) -> list[ModelEntry]:
        """Models in fallback order: the asked-for one, the rest of its tier, then (if allowed) the other tier."""
        if model is not None and model not in self.models:
            raise InvalidRequest(f"unknown model {model!r}; configured: {', '.join(self.models) or 'none'}")
        if tier is None:
            if model is None:
                raise InvalidRequest("chat needs a tier or a model")
            tier = self.models[model].tier
        first = [self.models[model]] if model is not None else []
        same = [m for m in self.models.values() if m.tier == tier and m.name != model]
        other = [m for m in self.models.values() if m.tier != tier and m.name != model] if self.cross_tier else []
        return first + same + other

    async def chat(
        self,
        request: ChatRequest,
        *,
        tier: Tier | None = None,
        model: str | None = None,
        preferred_deployment: str | None = None,
        deadline: float | None = None,
    ) -> ChatResult:
        chain = self.chain(tier, model)
        deadline = self.deadline_in() if deadline is None else deadline
        attempts: list[Attempt] = []
        live, unusable = usable(chain, request)
        async with aclosing(self.routes(live, preferred_deployment, deadline, attempts)) as routes:
            async for route in routes:
                attempt, response, error = await self._attempt(route, request, deadline)
                attempts.append(attempt)
                if response is not None:
                    return ChatResult(response, tuple(attempts), route.model, route.key, route.tier)
                if isinstance(error, ProviderRequestRejected) and error.status in _STOP_STATUSES:
                    error.attempts = tuple(attempts)  # type: ignore[attr-defined]
                    raise error
        raise ProviderUnavailable(_summary(chain, attempts, deadline <= self.clock(), unusable), list[object](attempts))

    # ------------------------------------------------------------ choosing

    async def routes(
        self, live: Sequence[ModelEntry], preferred: str | None, deadline: float, attempts: list[Attempt]
    ) -> AsyncGenerator[Route, None]:
        """The deployments to try, in order, each with its breaker acquired; the caller records each
        try in `attempts` (skipped deployments are recorded here). Ends when `max_attempts` calls or
        rounds are spent, or the deadline would pass; between rounds it waits for the first
        deployment to be ready again. Shared by whole replies (`chat`) and streams (reliable_stream)."""
        skipped: set[str] = set()
        tried: set[str] = set()
        calls = rounds = 0
        while calls < self.policy.max_attempts:
            now = self.clock()
            if now >= deadline:
                return
            route = self._next(live, preferred, tried, now, attempts, skipped)
            if route is None:
                rounds += 1
                delay = self._round_delay(live, rounds, now)
                if delay is None or rounds >= self.policy.max_attempts or now + delay >= deadline:
                    return
                await self.sleep(delay)
                tried.clear()
                continue
            tried.add(route.key)
            if not route.health.breaker.acquire():
                continue
            calls += 1
            yield route

    def _next(
        self,
        live: Sequence[ModelEntry],
        preferred: str | None,
        tried: set[str],
        now: float,
        attempts: list[Attempt],
        skipped: set[str],
    ) -> Route | None:
        for entry in live:
            ready: list[Route] = []
            for route in entry.routes:
                if route.key in tried:
                    continue
                if route.health.ready(now):
                    ready.append(route)
                elif route.key not in skipped:
                    skipped.add(route.key)
                    attempts.append(self._skip_route(route, now))
            if not ready:
                continue
            pinned = [r for r in ready if r.key == preferred]
            if pinned:
                return pinned[0]  # keep the conversation on its warm prompt cache while healthy
            by_health = {id(r.health): r for r in ready}
            return by_health[id(self.balancer.order([r.health for r in ready], self.rand)[0])]
        return None

    def _round_delay(self, live: Sequence[ModelEntry], rounds: int, now: float) -> float | None:
        routes = [r for e in live for r in e.routes]
        if not routes:
            return None
        base = min(self.policy.backoff_max, self.policy.backoff_base * 2.0 ** (rounds - 1))
        jittered = base * (0.5 + 0.5 * self.rand())  # "equal jitter": never zero, never synchronised
        earliest = min(r.health.ready_at() for r in routes)
        return max(jittered, earliest - now)

    # ------------------------------------------------------------ one attempt

    async def _attempt(
        self, route: Route, request: ChatRequest, deadline: float
    ) -> tuple[Attempt, ChatResponse | None, ProviderError | None]:
        health = route.health
        start, start_unix = self.clock(), self.wall()
        circuit = "half_open" if health.breaker.probing else "closed"
        timeout = max(0.001, min(route.target.timeout, deadline - start))
        health.in_flight += 1
        response: ChatResponse | None = None
        error: ProviderError | None = None
        verdict = False
        try:
            with anyio.fail_after(timeout):
                response = await route.provider.chat(self.client, replace(route.target, timeout=timeout), request)
            verdict = True
        except TimeoutError:
            error, verdict = ProviderTimeout(f"{route.key}: no reply within {timeout:g}s"), True
        except ProviderError as exc:
            error, verdict = exc, True
        except Exception as exc:  # an adapter or script bug must not crash the gateway
            error, verdict = ProviderProtocolError(f"{route.key}: {type(exc).__name__}: {exc}"[:300]), True
        finally:
            health.in_flight -= 1
            if not verdict:  # cancelled from outside: no verdict on the deployment's health
                health.breaker.release()
        end = self.clock()
        if response is not None:
            attempt, response = self._succeeded(route, response, start, end, start_unix)
            return replace(attempt, circuit=circuit), response, None
        assert error is not None
        return replace(self._failed(route, error, start, end, start_unix), circuit=circuit), None, error

    def _succeeded(
        self, route: Route, response: ChatResponse, start: float, end: float, start_unix: float
    ) -> tuple[Attempt, ChatResponse]:
        route.health.breaker.record_success()
        route.health.observe_latency(end - start)
        cost = cost_usd(response.usage, route.price)
        response = replace(
            response, cost_usd=cost, provider=route.provider_name, model=response.model or route.target.model
        )
        u = response.usage
        attempt = Attempt(
            route.model,
            route.key,
            route.provider_name,
            route.tier,
            route.target.model,
            start,
            end,
            start_unix,
            "ok",
            input_tokens=u.input,
            output_tokens=u.output,
            cached_input_tokens=u.cached_input,
            cost_usd=cost,
            endpoint=route.endpoint,
        )
        log.debug("attempt %s ok in %.3fs", route.key, end - start)
        return attempt, response

    def _failed(self, route: Route, error: ProviderError, start: float, end: float, start_unix: float) -> Attempt:
        health, breaker = route.health, route.health.breaker
        status = getattr(error, "status", 429 if isinstance(error, RateLimited) else None)
        retry_after = getattr(error, "retry_after", None)
        if isinstance(error, RateLimited):
            breaker.release()
            pause = retry_after if retry_after is not None else max(self.policy.backoff_base, 0.0)
            health.rate_limited_until = max(health.rate_limited_until, end + pause)
        elif isinstance(error, ProviderRequestRejected) and error.status in _STOP_STATUSES:
            breaker.release()
        else:
            breaker.record_failure()
            if retry_after is not None:  # a 503 with Retry-After: honour it too
                health.rate_limited_until = max(health.rate_limited_until, end + retry_after)
        health.last_error = f"{error.error_type}: {error}"[:300]
        log.info("attempt %s failed: %s", route.key, health.last_error)
        return Attempt(
            route.model,
            route.key,
            route.provider_name,
            route.tier,
            route.target.model,
            start,
            end,
            start_unix,
            "error",
            error.error_type,
            status,
            retry_after,
            str(error)[:300],
            endpoint=route.endpoint,
        )

    def _skip_route(self, route: Route, now: float) -> Attempt:
        h = route.health
        if not h.breaker.can_try():
            probe = h.breaker.seconds_until_probe()
            why = (
                "circuit_open",
                f"circuit open after {h.breaker.failures} consecutive failures"
                + (f"; probe in {probe:.0f}s" if probe else "; probe in progress"),
            )
        else:
            why = "rate_limited", f"cooling off after 429 for {h.rate_limited_until - now:.1f}s more"
        skip = self._skip(route.model, route.tier, route.provider_name, route.key, *why, upstream=route.target.model)
        return replace(skip, endpoint=route.endpoint, circuit=h.breaker.state)

    def _skip(
        self, model: str, tier: str, provider: str, key: str, error_type: str, message: str, upstream: str = ""
    ) -> Attempt:
        now = self.clock()
        return Attempt(
            model,
            key,
            provider,
            tier,
            upstream,
            now,
            now,
            self.wall(),
            "skipped",
            error_type,
            message=message,
            circuit="",
        )


def usable(chain: Sequence[ModelEntry], request: ChatRequest) -> tuple[list[ModelEntry], dict[str, str]]:
    """The chain's models that can be called, and why the others cannot. Models that cannot be called
    at all (a missing key, a bad script, no tool support) are never attempted and leave no attempt
    behind (no error span for a model nobody chose); they are named only if nothing answers."""
    unusable = {
        e.name: e.unavailable_reason or "model has no tool support"
        for e in chain
        if not e.available or not (e.supports_tools or not request.tools)
    }
    return [e for e in chain if e.name not in unusable], unusable


def _summary(
    chain: Sequence[ModelEntry], attempts: Sequence[Attempt], past_deadline: bool, unusable: Mapping[str, str]
) -> str:
    names = ", ".join(m.name for m in chain) or "none"
    last: dict[str, Attempt] = {}
    for a in attempts:
        last[a.deployment] = a
    parts = [f"{name} unavailable: {why}" for name, why in unusable.items()]
    parts += [f"{k} {a.error_type}" + (f" (HTTP {a.status})" if a.status else "") for k, a in last.items()]
    why = "deadline reached" if past_deadline else f"{sum(a.outcome == 'error' for a in attempts)} failed attempt(s)"
    return f"no model answered ({why}); tried models: {names}; " + ("; ".join(parts) or "no deployment was available")
