"""The days the scan loop owes a scan, each with the time it is due: pure bookkeeping.

A day asked for by the nightly job or SIGHUP is due now; a day whose scan failed is
due again after a backoff, so one failing day never holds up the others: the loop scans
whatever is due and sleeps only until the next due time. Times are ``time.monotonic()``
seconds, passed in, so the rules are tested without a clock.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date


def retry_delay(
    failures: int,
    base: float,
    cap: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next try after ``failures`` failures in a row (1 or more).

    Doubles from ``base`` up to ``cap``, then keeps a random half of the top half
    ("equal jitter"): never less than half the step, so retries do not hammer a database
    that is coming back, and two daemons that failed together drift apart.
    """
    step = min(cap, base * 2.0 ** min(max(failures, 1) - 1, 62))
    return step / 2 + rand() * step / 2


@dataclass(slots=True)
class Due:
    at: float
    trigger: str


@dataclass(slots=True)
class DayQueue:
    """Days waiting to be scanned, at most one entry a day: any number of asks while a
    day waits (SIGHUPs during a scan) give exactly one more scan."""

    due: dict[date, Due] = field(default_factory=dict)
    failures: dict[date, int] = field(default_factory=dict)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def ask(self, days: Iterable[date], trigger: str, now: float) -> None:
        """Due now (the nightly job, SIGHUP): brings a day waiting for its retry forward."""
        for day in days:
            waiting = self.due.get(day)
            if waiting is None or waiting.at > now:
                self.due[day] = Due(now, trigger)
        self.event.set()

    def offer(self, days: Iterable[date], trigger: str, now: float) -> list[date]:
        """Due now unless already waiting (the look-back): a day in backoff keeps its time.
        Returns the days added."""
        added = [day for day in days if day not in self.due]
        for day in added:
            self.due[day] = Due(now, trigger)
        if added:
            self.event.set()
        return added

    def take_due(self, now: float) -> list[tuple[date, str]]:
        """The days due by ``now``, oldest first, removed from the queue."""
        ready = sorted(day for day, d in self.due.items() if d.at <= now)
        return [(day, self.due.pop(day).trigger) for day in ready]

    def next_due(self) -> float | None:
        return min((d.at for d in self.due.values()), default=None)

    def succeeded(self, day: date) -> None:
        self.failures.pop(day, None)

    def failed(self, day: date, now: float, delay: Callable[[int], float]) -> tuple[int, float]:
        """Schedule the retry of a failed day; (failures in a row, seconds until it)."""
        failures = self.failures.get(day, 0) + 1
        self.failures[day] = failures
        wait = delay(failures)
        waiting = self.due.get(day)
        if waiting is None or waiting.at > now + wait:
            self.due[day] = Due(now + wait, "retry")
        return failures, wait
