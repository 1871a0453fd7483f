"""Provider stops and TikHub spend in the database: the ``ProviderGate`` of every scan.

Stored, so a later scan, a restart or a second daemon honours a stop and shares one
budget (spec section 5). The fetchers only see the ``ProviderGate`` protocol.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from daemon.fetch.gate import (
    BUDGET_REASON,
    TIKHUB_PROVIDER,
    ActiveStop,
    Reservation,
    next_midnight,
)
from daemon.store.db import Db

log = structlog.get_logger("daemon.fetch.stops")

PROVIDERS = ("youtube", "tikhub")
# A salted digest: enough to tell keys apart, useless for recovering one.
_FINGERPRINT_SALT = b"dailystats/tikhub-key/v1:"


def key_fingerprint(key: str | None) -> str | None:
    if not key:
        return None
    return hashlib.sha256(_FINGERPRINT_SALT + key.encode()).hexdigest()[:32]


class DbProviderGate:
    """Stops in ``dailystats_provider_stops``; spend in ``dailystats_tikhub_spend``;
    the budget reserved atomically in ``dailystats_tikhub_budget``."""

    def __init__(
        self,
        db: Db,
        zone: ZoneInfo,
        *,
        tikhub_key: str | None,
        budget: Decimal | None = None,
        probe_interval: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.zone = zone
        self.budget = budget
        self.fingerprint = key_fingerprint(tikhub_key)
        self.probe_seconds = probe_interval.total_seconds()

    def today(self) -> date:
        """The spend day: today in the stats zone."""
        return datetime.now(UTC).astimezone(self.zone).date()

    async def active_stop(self, provider: str) -> ActiveStop | None:
        if provider == TIKHUB_PROVIDER:
            lifted = await self.db.execute(
                "provider_stop_lift_changed_key", provider, self.fingerprint
            )
            if lifted.split()[-1] != "0":
                log.info("provider.stop_lifted", provider=provider, why="key changed")
        row = await self.db.fetchrow("provider_stop_active", provider)
        if row is None:
            return None
        probe = False
        if provider == TIKHUB_PROVIDER and row["until"] is None:
            claimed = await self.db.fetchval(
                "provider_stop_claim_probe", provider, self.probe_seconds
            )
            probe = claimed is not None
        return ActiveStop(row["reason"], probe)

    async def allow(self, provider: str, endpoint: str, price: Decimal) -> Reservation | None:
        # The reservation carries its own day: a call that straddles midnight is
        # settled against the day it reserved on, whatever other calls ended first.
        day = self.today()
        reservation = Reservation(provider, endpoint, price, day)
        if self.budget is None:
            return reservation
        if await self.db.fetchval("tikhub_reserve", day, price, self.budget) is not None:
            return reservation
        await self.stop(provider, BUDGET_REASON, next_midnight(self.zone))
        return None

    async def settle(self, reservation: Reservation, billed: bool) -> None:
        day = reservation.day or self.today()
        if billed:
            await self.db.execute("tikhub_spent", day, reservation.endpoint, reservation.price)
        elif self.budget is not None:
            await self.db.execute("tikhub_release", day, reservation.price)

    async def stop(self, provider: str, reason: str, until: datetime | None) -> None:
        fingerprint = self.fingerprint if provider == TIKHUB_PROVIDER and until is None else None
        await self.db.execute("provider_stop_save", provider, reason, until, fingerprint)
        log.warning(
            "provider.stopped",
            provider=provider,
            reason=reason,
            until=until.isoformat() if until else None,
        )

    async def clear(self, provider: str) -> None:
        await self.db.execute("provider_stop_clear", provider)
        log.info("provider.stop_cleared", provider=provider)


@dataclass(frozen=True, slots=True)
class SpendLine:
    endpoint: str
    calls: int
    usd: Decimal


async def list_stops(db: Db, tikhub_key: str | None = None) -> list[dict[str, Any]]:
    """Every stored stop; ``key_changed``: stored with another TikHub key than this one."""
    return [dict(r) for r in await db.fetch("provider_stops_list", key_fingerprint(tikhub_key))]


async def clear_stop(db: Db, provider: str) -> bool:
    """True when a stop was there to clear."""
    cleared = await db.fetchval("provider_stop_clear", provider) is not None
    if cleared:
        log.info("provider.stop_cleared", provider=provider, by="operator")
    return cleared


async def spend_of_day(db: Db, day: date) -> list[SpendLine]:
    rows = await db.fetch("tikhub_spend_of_day", day)
    return [SpendLine(r["endpoint"], r["calls"], r["usd"]) for r in rows]
