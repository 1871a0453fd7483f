"""The gauges read from the database (issue 16), on a real PostgreSQL: days owed from
the nightly time on, the last scanned day, dead *latest* versions, the oldest pending
delivery, provider stops, today's TikHub spend and the last scan's videos."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from daemon.fetch.stops import key_fingerprint
from daemon.run.dbmetrics import DbGauges, day_timestamp
from daemon.run.metrics import REGISTRY
from daemon.settings import load_settings
from daemon.store.db import Db

YESTERDAY = date(2026, 3, 10)
BEFORE_NIGHTLY = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)
AFTER_NIGHTLY = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)


def _gauges(**overrides: object) -> DbGauges:
    settings: dict[str, object] = {
        "database_url": "postgresql://unused",
        "stats_timezone": "UTC",
        "scan_cron": "0 2 * * *",
        "catchup_days": 3,
        "tikhub_api_key": "key-now",
    }
    return DbGauges(load_settings(**(settings | overrides)))


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def _run(
    c: asyncpg.Connection, day: date, status: str, videos: tuple[int, ...] = (0, 0, 0, 0, 0)
) -> None:
    await c.execute(
        "INSERT INTO dailystats_scan_runs (stats_date, trigger, status, finished_at,"
        " video_count, videos_fetched, videos_missing, videos_stale, videos_failed)"
        " VALUES ($1, 'test', $2, now(), $3, $4, $5, $6, $7)",
        day,
        status,
        *videos,
    )


async def _delivery(c: asyncpg.Connection, task: int, status: str, age_hours: float = 0) -> None:
    await c.execute(
        "INSERT INTO dailystats_deliveries (task_id, stats_date, url, body, status, created_at)"
        " VALUES ($1, $2, 'http://x/', '{}', $3, now() - make_interval(secs => $4))",
        task,
        YESTERDAY,
        status,
        age_hours * 3600,
    )


async def test_yesterday_is_owed_from_its_nightly_time_on_and_scanned_days_are_not(
    db: Db,
) -> None:
    gauges = _gauges()
    async with db.connection() as tx:
        await _run(tx.conn, YESTERDAY - timedelta(days=3), "succeeded")
        await _run(tx.conn, YESTERDAY - timedelta(days=2), "failed")  # missed
        await _run(tx.conn, YESTERDAY - timedelta(days=1), "succeeded")
        await _run(tx.conn, YESTERDAY, "failed")
    await gauges.refresh(db, now=BEFORE_NIGHTLY)
    # Before 02:00 yesterday is not owed yet: only the failed day in the window.
    assert _value("dailystats_days_owed", reason="missed") == 1
    await gauges.refresh(db, now=AFTER_NIGHTLY)
    assert _value("dailystats_days_owed", reason="missed") == 2
    assert _value("dailystats_days_owed", reason="incomplete") == 0
    # The last scanned day is the day before yesterday, whatever ran last.
    assert _value("dailystats_last_scanned_day_timestamp_seconds") == day_timestamp(
        YESTERDAY - timedelta(days=1)
    )
    async with db.connection() as tx:
        await _run(tx.conn, YESTERDAY, "succeeded")
        await _run(tx.conn, YESTERDAY - timedelta(days=2), "succeeded")
    await gauges.refresh(db, now=AFTER_NIGHTLY)
    assert _value("dailystats_days_owed", reason="missed") == 0
    assert _value("dailystats_last_scanned_day_timestamp_seconds") == day_timestamp(YESTERDAY)


async def test_with_the_lookback_off_yesterday_is_still_watched(db: Db) -> None:
    await _gauges(catchup_days=0).refresh(db, now=AFTER_NIGHTLY)
    assert _value("dailystats_days_owed", reason="missed") == 1


async def test_dead_latest_leaves_out_dead_versions_a_newer_one_replaced(db: Db) -> None:
    async with db.connection() as tx:
        await _delivery(tx.conn, 1, "dead")  # replaced by the delivered version below
        await _delivery(tx.conn, 1, "delivered")
        await _delivery(tx.conn, 2, "dead")  # the latest of task 2: replay acts on it
        await _delivery(tx.conn, 3, "pending", age_hours=5)
        await _delivery(tx.conn, 4, "pending", age_hours=1)
    await _gauges().refresh(db)
    assert _value("dailystats_deliveries_dead") == 2
    assert _value("dailystats_deliveries_dead_latest") == 1
    assert _value("dailystats_deliveries_pending") == 2
    age = _value("dailystats_delivery_oldest_pending_age_seconds")
    assert age == pytest.approx(5 * 3600, abs=60)


async def test_nothing_pending_reads_as_age_zero(db: Db) -> None:
    await _gauges().refresh(db)
    assert _value("dailystats_delivery_oldest_pending_age_seconds") == 0
    assert _value("dailystats_deliveries_dead_latest") == 0


async def test_provider_stops_by_how_they_clear(db: Db) -> None:
    gauges = _gauges()
    await gauges.refresh(db)
    for provider in ("youtube", "tikhub"):
        for clears in ("by_operator", "by_itself"):
            assert _value("dailystats_provider_stop_active", provider=provider, clears=clears) == 0
    async with db.connection() as tx:
        await tx.conn.execute(
            "INSERT INTO dailystats_provider_stops (provider, reason, until, key_fingerprint)"
            " VALUES ('youtube', 'quotaExceeded', now() + interval '3 hours', NULL),"
            " ('tikhub', '401', NULL, $1)",
            key_fingerprint("key-now"),
        )
    await gauges.refresh(db)
    assert _value("dailystats_provider_stop_active", provider="youtube", clears="by_itself") == 1
    assert _value("dailystats_provider_stop_active", provider="tikhub", clears="by_operator") == 1
    # Another key lifts the TikHub stop for the process that has it.
    await _gauges(tikhub_api_key="key-new").refresh(db)
    assert _value("dailystats_provider_stop_active", provider="tikhub", clears="by_operator") == 0
    # An expired timed stop is no stop.
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE dailystats_provider_stops SET until = now() - interval '1 minute'"
            " WHERE provider = 'youtube'"
        )
    await gauges.refresh(db)
    assert _value("dailystats_provider_stop_active", provider="youtube", clears="by_itself") == 0


async def test_budget_and_todays_spend(db: Db) -> None:
    today = datetime.now(UTC).date()
    async with db.connection() as tx:
        await tx.conn.execute(
            "INSERT INTO dailystats_tikhub_spend (spend_date, endpoint, calls, usd) VALUES"
            " ($1, 'a', 2, 0.05), ($1, 'b', 1, 0.025), ($1 - 1, 'a', 9, 9)",
            today,
        )
    await _gauges().refresh(db)
    assert _value("dailystats_tikhub_budget_usd") == math.inf
    assert _value("dailystats_tikhub_spend_today_usd") == pytest.approx(0.075)
    await _gauges(tikhub_daily_budget_usd=Decimal("2.5")).refresh(db)
    assert _value("dailystats_tikhub_budget_usd") == 2.5


async def test_last_scan_videos_are_the_latest_successful_runs(db: Db) -> None:
    async with db.connection() as tx:
        await _run(tx.conn, YESTERDAY, "succeeded", (10, 4, 3, 2, 1))
        await _run(tx.conn, YESTERDAY, "failed", (99, 99, 99, 99, 99))
    await _gauges().refresh(db)
    got = {r: _value("dailystats_last_scan_videos", result=r) for r in ("total", "missing")}
    assert got == {"total": 10, "missing": 3}
    assert _value("dailystats_last_scan_videos", result="stale") == 2
