"""Issue 15: the intraday classification pass keeps the open days classified, never
waits for a day being scanned, and prunes the days no longer open."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from daemon.run.classifier import classify_pass, open_days, prune_closed_days
from daemon.scan.classify import check_day
from daemon.scan.day import ScanConfig, scan_day
from daemon.settings import load_settings
from daemon.store.db import Db
from tests.scan.scan_reference import (
    Completion,
    expected_rows,
    insert_completions,
    insert_tasks,
    stored_rows,
)

DAY = date(2024, 12, 9)
UTC_ZONE = ZoneInfo("UTC")
CONFIG = ScanConfig.defaults()


def _completions(day: date, first_id: int, count: int) -> list[Completion]:
    at = datetime.combine(day, datetime.min.time()) + timedelta(hours=10)
    links = ["youtu.be/dQw4w9WgXcQ", "tiktok.com/@u/video/7300000000000000001", "junk"]
    return [
        Completion(
            first_id + n,
            1 + n % 2,
            1 + n % 4,
            "submitted" if n % 5 else "verified",
            None,
            links[n % 3],
            at + timedelta(minutes=n),
            {"view_count": n} if n % 2 else None,
        )
        for n in range(count)
    ]


async def _setup(db: Db, rows: list[Completion]) -> None:
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2])
        await insert_completions(tx.conn, rows)


async def test_the_pass_classifies_so_the_scan_only_aggregates(db: Db) -> None:
    rows = _completions(DAY, 1, 7)
    await _setup(db, rows)
    report = await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [DAY], batch=2)
    assert report.days_changed == 1 and report.rows_looked_at == 7 and report.days_busy == 0
    assert report.longest_lock_seconds > 0  # each batch held the lock, then let it go
    async with db.connection() as tx:
        assert (await check_day(tx, DAY, UTC_ZONE, CONFIG.completed_statuses)).same
        assert await tx.conn.fetchval("SELECT count(*) FROM dailystats_completions") == 7

    # Nothing changed since: a second pass only reads the (id, xmin) pairs.
    again = await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [DAY])
    assert (again.days_changed, again.rows_looked_at) == (0, 0)

    scan = await scan_day(db, DAY, CONFIG, trigger="test")
    assert scan.status == "succeeded" and scan.rows_classified == 0
    async with db.connection() as tx:
        stored = await stored_rows(tx.conn, DAY)
    assert stored == expected_rows(rows, DAY, UTC_ZONE, {}, [], False)

    # A change between passes: the pass classifies only that row, the scan aggregates it.
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE user_tasks SET status = 'rejected' WHERE id = 3")
    changed = await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [DAY])
    assert changed.rows_looked_at == 1
    rescan = await scan_day(db, DAY, CONFIG, trigger="test")
    assert rescan.rows_classified == 0 and not rescan.unchanged and rescan.rows_changed == 1


async def test_the_pass_leaves_a_day_being_scanned_to_the_scan(db: Db, db_url: str) -> None:
    await _setup(db, _completions(DAY, 1, 4))
    holder = await asyncpg.connect(db_url)
    try:
        await holder.execute("SELECT pg_advisory_lock(7210135, $1::date - DATE '2000-01-01')", DAY)
        report = await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [DAY])
        assert report.days_busy == 1  # returned without waiting for the lock
        async with db.connection() as tx:
            assert not await tx.conn.fetchval("SELECT count(*) FROM dailystats_completions")
    finally:
        await holder.close()
    report = await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [DAY])
    assert report.days_busy == 0 and report.rows_looked_at == 4


async def test_closed_days_are_pruned_and_open_ones_kept(db: Db) -> None:
    old, kept = DAY - timedelta(days=10), DAY
    old_rows = _completions(old, 1, 3)
    # A link only the old day used, and one both used.
    old_rows[0] = dataclasses.replace(old_rows[0], link="youtu.be/ONLYoldDAY1")
    await _setup(db, old_rows + _completions(kept, 10, 3))
    await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [old, kept])
    deleted = await prune_closed_days(db, kept - timedelta(days=4), batch=2)
    assert deleted == 3
    async with db.connection() as tx:
        days = await tx.conn.fetch(
            "SELECT stats_date, count(*) AS n FROM dailystats_completions GROUP BY 1"
        )
        assert [(r["stats_date"], r["n"]) for r in days] == [(kept, 3)]
        records = await tx.conn.fetch("SELECT stats_date FROM dailystats_classified_days")
        assert [r["stats_date"] for r in records] == [kept]
        links = {r["link"] for r in await tx.conn.fetch("SELECT link FROM dailystats_links")}
        assert "youtu.be/ONLYoldDAY1" not in links and "youtu.be/dQw4w9WgXcQ" in links
    # A later scan of the settled day classifies it afresh, with the same numbers.
    scan = await scan_day(db, old, CONFIG, trigger="test")
    assert scan.rows_classified == 3
    async with db.connection() as tx:
        assert await stored_rows(tx.conn, old) == expected_rows(
            old_rows, old, UTC_ZONE, {}, [], False
        )


def test_open_days_are_today_yesterday_and_the_settle_window() -> None:
    now = datetime(2024, 12, 10, 1, 0, tzinfo=UTC)
    assert open_days(ZoneInfo("Asia/Shanghai"), 3, now) == [
        date(2024, 12, 10) - timedelta(days=n) for n in range(5)
    ]
    assert open_days(ZoneInfo("America/New_York"), 0, now) == [
        date(2024, 12, 9),
        date(2024, 12, 8),
    ]


def test_the_interval_setting() -> None:
    url = "postgresql://u@h/d"
    assert load_settings(database_url=url).classify_interval_seconds == 300
    assert (
        load_settings(database_url=url, classify_interval_seconds=0).classify_interval_seconds == 0
    )


async def test_a_day_forgotten_before_its_rows_were_pruned_is_counted_afresh(db: Db) -> None:
    old = DAY - timedelta(days=10)
    rows = _completions(old, 1, 5)
    await _setup(db, rows)
    await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [old])
    # The record is forgotten and the daemon stops before prune_classified_rows runs.
    async with db.connection() as tx:
        await tx.execute("forget_classified_day", old)
        assert await tx.conn.fetchval("SELECT count(*) FROM dailystats_completions") == 5
    scan = await scan_day(db, old, CONFIG, trigger="test")
    assert scan.status == "succeeded" and scan.rows_classified == 5
    async with db.connection() as tx:
        record = await tx.conn.fetchrow("SELECT row_count FROM dailystats_classified_days")
        assert record is not None and record["row_count"] == 5
        # The new record's fingerprint is of the rows stored under it: nothing to compare.
        assert (await check_day(tx, old, UTC_ZONE, CONFIG.completed_statuses)).same
        assert await stored_rows(tx.conn, old) == expected_rows(rows, old, UTC_ZONE, {}, [], False)
    again = await classify_pass(db, UTC_ZONE, CONFIG.completed_statuses, [old])
    assert again.rows_looked_at == 0
