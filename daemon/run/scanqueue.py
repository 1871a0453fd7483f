"""The days the scan loop owes a scan, each with the time it is due: pure bookkeeping.

A day asked for by the nightly job or SIGHUP is due now; a day whose scan failed is
due again after a backoff, so one failing day never holds up the others: the loop scans
whatever is due and sleeps only until the next due time. Times are ``time.monotonic()``
seconds, passed in, so the rules are tested without a clock.

Each waiting day carries the mode of scan it is owed (spec section 7): one entry a day,
so asks for the same day merge into the mode that refreshes the most (full over
incomplete over settle), and a retry keeps the mode of the scan that failed. A settle
rescan is only owed while its day is in the settle window: one waiting for its retry
when the window has moved past it is dropped.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from daemon.scan.day import ScanMode

# What each mode may refresh includes what the ones before it may: merging keeps the most.
_REACH: dict[ScanMode, int] = {"settle": 0, "incomplete": 1, "full": 2}


def merge_modes(a: ScanMode, b: ScanMode) -> ScanMode:
    """One scan that does what both asked for."""
    return a if _REACH[a] >= _REACH[b] else b


def settle_days(yesterday: date, window: int) -> list[date]:
    """The days a nightly run for ``yesterday`` rescans after it: Y-1 .. Y-``window``."""
    return [yesterday - timedelta(days=n) for n in range(1, window + 1)]


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
    mode: ScanMode = "full"


@dataclass(frozen=True, slots=True)
class Taken:
    """A day to scan now, and how."""

    day: date
    trigger: str
    mode: ScanMode


@dataclass(slots=True)
class DayQueue:
    """Days waiting to be scanned, at most one entry a day: any number of asks while a
    day waits (SIGHUPs during a scan) give exactly one more scan."""

    due: dict[date, Due] = field(default_factory=dict)
    failures: dict[date, int] = field(default_factory=dict)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def ask(self, days: Iterable[date], trigger: str, now: float, mode: ScanMode = "full") -> None:
        """Due now (the nightly job, SIGHUP): brings a day waiting for its retry forward."""
        for day in days:
            waiting = self.due.get(day)
            if waiting is None:
                self.due[day] = Due(now, trigger, mode)
                continue
            if waiting.at > now or _REACH[mode] > _REACH[waiting.mode]:
                waiting.at, waiting.trigger = min(waiting.at, now), trigger
            waiting.mode = merge_modes(waiting.mode, mode)
        self.event.set()

    def offer(
        self, days: Iterable[date], trigger: str, now: float, mode: ScanMode = "full"
    ) -> list[date]:
        """Due now unless already waiting (the look-back): a day in backoff keeps its time
        and takes the mode that does both. Returns the days added."""
        days = list(days)
        added = [day for day in days if day not in self.due]
        for day in days:
            if day in self.due:
                self.due[day].mode = merge_modes(self.due[day].mode, mode)
        for day in added:
            self.due[day] = Due(now, trigger, mode)
        if added:
            self.event.set()
        return added

    def take_due(self, now: float, settle_from: date | None = None) -> list[Taken]:
        """The days due by ``now``, removed from the queue: the days owed a full or an
        incomplete scan oldest first, then the settle rescans newest first (yesterday
        before the days it settles). A settle rescan of a day before ``settle_from`` (the
        window has moved on) is dropped: the day is settled."""
        ready = [(day, d) for day, d in self.due.items() if d.at <= now]
        for day, _ in ready:
            del self.due[day]
        out = []
        for day, d in ready:
            if d.mode == "settle" and settle_from is not None and day < settle_from:
                self.failures.pop(day, None)
                continue
            out.append(Taken(day, d.trigger, d.mode))
        settles = sorted((t for t in out if t.mode == "settle"), key=lambda t: t.day, reverse=True)
        return sorted((t for t in out if t.mode != "settle"), key=lambda t: t.day) + settles

    def next_due(self) -> float | None:
        return min((d.at for d in self.due.values()), default=None)

    def succeeded(self, day: date) -> None:
        self.failures.pop(day, None)

    def failed(
        self,
        day: date,
        now: float,
        delay: Callable[[int], float],
        mode: ScanMode = "full",
    ) -> tuple[int, float]:
        """Schedule the retry of a failed day, in the mode of the scan that failed (merged
        with any ask that came meanwhile); (failures in a row, seconds until it)."""
        failures = self.failures.get(day, 0) + 1
        self.failures[day] = failures
        wait = delay(failures)
        waiting = self.due.get(day)
        if waiting is None:
            self.due[day] = Due(now + wait, "retry", mode)
        else:
            if waiting.at > now + wait:
                waiting.at, waiting.trigger = now + wait, "retry"
            waiting.mode = merge_modes(waiting.mode, mode)
        return failures, wait
