"""Logging that does not repeat itself: the same message at most once per window.

A failure that recurs on every request (a full disk under every step save, `accept()` out of file
descriptors on every connection attempt) must not turn the log into the next outage: one line
says what happened, the next one after the window says how many more there were. Standard
library only, so library code and `serve` can both install it on a logger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

_MAX_KEYS = 256  # distinct messages remembered; past it the memory starts over (bounded, not exact)


class RepeatFilter(logging.Filter):
    """Pass a record unless a like one passed within `window` seconds; the next one that passes
    carries the count of those held back. Records are alike when logger, level, format string and
    first argument match (the argument is usually *who*: a server, a command, an error), so a
    flood of junk lines from one server is one line a minute, and another server's still shows."""

    def __init__(self, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, int, str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        first = record.args[0] if isinstance(record.args, tuple) and record.args else ""
        key = (record.name, record.levelno, str(record.msg)[:300], str(first)[:300])
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg, record.args = f"{message} ({seen[1]} more like this in the last {now - seen[0]:.0f} s)", None
        elif len(self._seen) >= _MAX_KEYS:
            self._seen.clear()
        self._seen[key] = (now, 0)
        return True


class FailureStreak:
    """Failures in a row with the same reason, for a supervisor's log: `record()` returns the
    streak's length, and `due(n)` is true on the 1st, 2nd, 4th, 8th ... so a crash loop's log
    thins out geometrically while a new reason is told at once. `normalise` drops what changes
    on every attempt without changing the cause (a respawned child's pid)."""

    def __init__(self, normalise: Callable[[str], str] = str) -> None:
        self._normalise = normalise
        self._last: str | None = None
        self.count = 0

    def record(self, reason: str, *, reset: bool = False) -> int:
        key = self._normalise(reason)
        self.count = self.count + 1 if key == self._last and not reset else 1
        self._last = key
        return self.count

    @staticmethod
    def due(n: int) -> bool:
        return n > 0 and n & (n - 1) == 0
