"""The gauges that describe the database, read from it (issue 16).

Read at start, after every scan and delivery pass, and at each scrape of /metrics, so
they survive restarts and two replicas report the same numbers (the alert rules in
deploy/prometheus aggregate them without ``instance``). Process counters stay in
daemon.run.metrics.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time

from apscheduler.triggers.cron import CronTrigger
from prometheus_client import Gauge

from daemon.fetch.gate import TIKHUB_PROVIDER
from daemon.fetch.stops import PROVIDERS, key_fingerprint, spend_of_day
from daemon.run.lookback import owed_days
from daemon.run.metrics import DEAD, LAST_SUCCESS, PENDING, REGISTRY
from daemon.run.scheduler import nightly_due_through
from daemon.settings import Settings
from daemon.store.db import Db

DAYS_OWED = Gauge(
    "dailystats_days_owed",
    "Days owed a scan now: 'missed' (no successful scan, counted from the nightly time"
    " of the day after on, over the last max(CATCHUP_DAYS, 1) days) or 'incomplete'"
    " (left incomplete by a stop that has cleared since)",
    ["reason"],
    registry=REGISTRY,
)
LAST_SCANNED_DAY = Gauge(
    "dailystats_last_scanned_day_timestamp_seconds",
    "The latest stats date before today with a successful scan, as its 00:00 UTC (unix time)",
    registry=REGISTRY,
)
DEAD_LATEST = Gauge(
    "dailystats_deliveries_dead_latest",
    "Dead deliveries that are their task and day's latest version (the ones replay acts on)",
    registry=REGISTRY,
)
OLDEST_PENDING = Gauge(
    "dailystats_delivery_oldest_pending_age_seconds",
    "Seconds since the oldest pending delivery was written (0: none pending)",
    registry=REGISTRY,
)
STOP_ACTIVE = Gauge(
    "dailystats_provider_stop_active",
    "1 while a provider is stopped: clears='by_operator' (TikHub key or balance: needs"
    " action) or clears='by_itself' (YouTube quota, TikHub budget: until a midnight)",
    ["provider", "clears"],
    registry=REGISTRY,
)
BUDGET = Gauge(
    "dailystats_tikhub_budget_usd",
    "TIKHUB_DAILY_BUDGET_USD (+Inf: no cap)",
    registry=REGISTRY,
)
SPEND_TODAY = Gauge(
    "dailystats_tikhub_spend_today_usd",
    "TikHub spend of today in the stats zone, all endpoints and replicas",
    registry=REGISTRY,
)
LAST_SCAN_VIDEOS = Gauge(
    "dailystats_last_scan_videos",
    "Videos of the latest successful scan run: total, fetched, missing, stale, failed",
    ["result"],
    registry=REGISTRY,
)
LAST_SCAN_RESULTS = ("total", "fetched", "missing", "stale", "failed")


def day_timestamp(day: date) -> float:
    return datetime.combine(day, time(0), tzinfo=UTC).timestamp()


class DbGauges:
    """Reads the gauges above (and the older ones: last success, pending, dead)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.nightly = CronTrigger.from_crontab(settings.scan_cron, timezone=settings.zone)
        key = settings.tikhub_api_key
        self.fingerprint = key_fingerprint(key.get_secret_value() if key else None)
        budget = settings.tikhub_daily_budget_usd
        BUDGET.set(math.inf if budget is None else float(budget))

    async def refresh(self, db: Db, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        zone = self.settings.zone
        today = now.astimezone(zone).date()
        row = await db.fetchrow("metrics_state", today)
        assert row is not None
        if row["last_success"] is not None:
            LAST_SUCCESS.set(row["last_success"])
        if row["last_scanned_day"] is not None:
            LAST_SCANNED_DAY.set(day_timestamp(row["last_scanned_day"]))
        PENDING.set(row["pending"])
        DEAD.set(row["dead"])
        DEAD_LATEST.set(row["dead_latest"])
        OLDEST_PENDING.set(row["pending_oldest_age"])

        # Yesterday is owed from its nightly time on, as the look-back sees it; the
        # window is at least yesterday, even with the look-back off (CATCHUP_DAYS=0).
        owed = await owed_days(
            db, nightly_due_through(self.nightly, now, zone), max(self.settings.catchup_days, 1)
        )
        for reason in ("missed", "incomplete"):
            DAYS_OWED.labels(reason).set(sum(1 for o in owed if o.reason == reason))

        last = await db.fetchrow("metrics_last_scan")
        for result in LAST_SCAN_RESULTS:
            column = "videos" if result == "total" else result
            LAST_SCAN_VIDEOS.labels(result).set(last[column] if last is not None else 0)

        stopped = {(p, c): 0.0 for p in PROVIDERS for c in ("by_operator", "by_itself")}
        for stop in await db.fetch("metrics_provider_stops"):
            if stop["until"] is not None:
                stopped[(stop["provider"], "by_itself")] = 1.0
            elif stop["provider"] != TIKHUB_PROVIDER or stop["key_fingerprint"] == self.fingerprint:
                # a TikHub stop earned with another key is lifted for this process
                stopped[(stop["provider"], "by_operator")] = 1.0
        for (provider, clears), value in stopped.items():
            STOP_ACTIVE.labels(provider, clears).set(value)

        SPEND_TODAY.set(float(sum(line.usd for line in await spend_of_day(db, today))))
