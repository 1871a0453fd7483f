"""What the fetchers ask before spending: provider stops and the TikHub budget.

The fetch layer holds no database code: it calls a ``ProviderGate``. The database
one (``daemon.fetch.stops``) makes stops and spend shared by every scan, process
and replica; ``MemoryGate`` is the trivial one for unit tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

YOUTUBE_PROVIDER = "youtube"
TIKHUB_PROVIDER = "tikhub"
BUDGET_REASON = "tikhub daily budget reached"


def next_midnight(zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """The next midnight in ``zone`` after ``now``, in UTC (DST-safe: local arithmetic)."""
    local = (now or datetime.now(UTC)).astimezone(zone)
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ActiveStop:
    """A stop in force. ``probe``: this caller won the right to try the provider once
    (a stop until cleared, probed at most once an hour)."""

    reason: str
    probe: bool = False


@dataclass(frozen=True, slots=True)
class Reservation:
    """One call's reserved price, on the spend day it was reserved on: the call is
    settled against that day, whenever it ends and whatever else ended first."""

    provider: str
    endpoint: str
    price: Decimal
    day: date | None = None


class ProviderGate(Protocol):
    async def active_stop(self, provider: str) -> ActiveStop | None:
        """The provider's stop in force, if any (a changed key lifts a key stop)."""
        ...

    async def allow(self, provider: str, endpoint: str, price: Decimal) -> Reservation | None:
        """Reserve ``price`` before a call; None: the budget would be passed (and the
        gate has stopped the provider for the rest of the day)."""
        ...

    async def settle(self, reservation: Reservation, billed: bool) -> None:
        """After the call: a billed call (answered 200) is spent, else its reservation
        is given back, on the day it was reserved on."""
        ...

    async def stop(self, provider: str, reason: str, until: datetime | None) -> None:
        """Stop the provider until ``until`` (None: until cleared)."""
        ...

    async def clear(self, provider: str) -> None: ...


@dataclass
class MemoryGate:
    """In-process gate: a budget (None: no cap), stops and spend in plain dicts."""

    budget: Decimal | None = None
    reserved: Decimal = Decimal(0)
    spent: dict[str, Decimal] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    stops: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)
    probe_due: bool = False

    async def active_stop(self, provider: str) -> ActiveStop | None:
        stop = self.stops.get(provider)
        if stop is None:
            return None
        probe = self.probe_due and stop[1] is None
        self.probe_due = False
        return ActiveStop(stop[0], probe)

    async def allow(self, provider: str, endpoint: str, price: Decimal) -> Reservation | None:
        if self.budget is not None and self.reserved + price > self.budget:
            self.stops[provider] = (BUDGET_REASON, datetime.max)
            return None
        self.reserved += price
        return Reservation(provider, endpoint, price)

    async def settle(self, reservation: Reservation, billed: bool) -> None:
        endpoint, price = reservation.endpoint, reservation.price
        if billed:
            self.spent[endpoint] = self.spent.get(endpoint, Decimal(0)) + price
            self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        else:
            self.reserved -= price

    async def stop(self, provider: str, reason: str, until: datetime | None) -> None:
        self.stops.setdefault(provider, (reason, until))

    async def clear(self, provider: str) -> None:
        self.stops.pop(provider, None)
