"""A per-endpoint rate limiter: at most one request start every 1/rate seconds."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """Minimum-interval limiter, first come first served.

    A minimum interval (a token bucket of one token) makes the bound provable:
    any window of one second holds at most ``rate + 1`` starts. ``rate == 0``
    means unlimited. The clock is monotonic; clock and sleep are injectable for tests.
    """

    def __init__(
        self,
        rate_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_second < 0 or math.isnan(rate_per_second):
            raise ValueError("rate_per_second must be >= 0")
        self._interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_at = -math.inf
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return self._interval == 0.0

    @property
    def interval(self) -> float:
        return self._interval

    async def acquire(self, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Wait for this caller's turn, run ``then`` (if given), and stamp the start.

        ``then`` runs while the turn is still held, so a caller can take its
        concurrency slot *after* its turn came without anyone overtaking it and
        without holding a slot while it waits for the turn. The turn is stamped
        when ``then`` returns, right before the request goes out; if ``then``
        raises, the turn is not used up.
        """
        if self.unlimited:
            if then is not None:
                await then()
            return
        async with self._lock:
            delay = self._next_at - self._clock()
            if delay > 0:
                await self._sleep(delay)
            if then is not None:
                await then()
            self._next_at = self._clock() + self._interval
