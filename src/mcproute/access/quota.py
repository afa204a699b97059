"""Per-client rate limits and daily budgets over the store's windowed counters.

Fixed windows keyed by client and window number: `rpm:<client>:<minute>` (requests),
`tpm:<client>:<minute>` (tool calls), `usd:<client>:<day>` (spend). Fixed windows are one counter
each (one row, one Redis key), need no per-request history, and hold across restarts because the
window number comes from the wall clock, not from the process. The price is the usual one: a
client may send up to twice its per-minute limit around a minute boundary.

A refused request does not count against the window; spend is added after each step, from the
cost the step already computed, so the budget check before a step compares what was spent so far
(a step that starts under the budget may end over it: budgets stop the next step, not this one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from mcproute.config_clients import ClientLimits
from mcproute.errors import ClientLimitExceeded
from mcproute.state.counters import CounterStore

MINUTE = 60.0
DAY = 86_400.0


class Quota:
    def __init__(self, counters: CounterStore, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters
        self.clock = clock

    async def _per_minute(self, kind: str, name: str, client: str, limit: int) -> None:
        now = self.clock()
        window = math.floor(now / MINUTE)
        end = (window + 1) * MINUTE
        taken = await self.counters.take(f"{kind}:{client}:{window}", 1, limit, end)
        if not taken.added:
            raise ClientLimitExceeded(client, name, _retry_after(end - now), f"{limit} per minute")

    async def request(self, client: str, limits: ClientLimits) -> None:
        """Count one HTTP request; over `requests_per_minute` raises ClientLimitExceeded."""
        if limits.requests_per_minute is not None:
            await self._per_minute("rpm", "requests_per_minute", client, limits.requests_per_minute)

    async def tool_call(self, client: str, limits: ClientLimits) -> None:
        if limits.tool_calls_per_minute is not None:
            await self._per_minute("tpm", "tool_calls_per_minute", client, limits.tool_calls_per_minute)

    async def budget(self, client: str, limits: ClientLimits) -> None:
        """Before work that may spend: refused once today's spend has reached `usd_per_day`."""
        if limits.usd_per_day is None:
            return
        now = self.clock()
        day = math.floor(now / DAY)
        spent = (await self.counters.take(f"usd:{client}:{day}", 0, None, (day + 1) * DAY)).total
        if spent >= limits.usd_per_day:
            raise ClientLimitExceeded(
                client,
                "usd_per_day",
                _retry_after((day + 1) * DAY - now),
                f"spent ${spent:.6f} of ${limits.usd_per_day:g} today (UTC)",
            )

    async def spend(self, client: str, usd: float) -> None:
        if usd <= 0:
            return
        day = math.floor(self.clock() / DAY)
        await self.counters.take(f"usd:{client}:{day}", usd, None, (day + 1) * DAY)


def _retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))
