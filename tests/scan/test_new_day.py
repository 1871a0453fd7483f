"""Issue 15: a day with no record is classified whole at once (a first scan's), its new
links saved in a transaction of their own with a plain insert; a link another batch
saves meanwhile sends that insert back to the known links, never fails the scan."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from daemon.scan.classify import check_day
from daemon.scan.day import ScanConfig, scan_day
from daemon.store.db import Db
from tests.run.locks import until_someone_waits_for_a_lock
from tests.scan.scan_reference import (
    Completion,
    expected_rows,
    insert_completions,
    insert_tasks,
    stored_rows,
)

DAY = date(2024, 12, 9)
UTC = ZoneInfo("UTC")
CONFIG = ScanConfig.defaults()
AT = datetime(2024, 12, 9, 10)
LINKS = [
    "https://youtu.be/dQw4w9WgXcQ",
    "https://www.tiktok.com/@u/video/7300000000000000001",
    "https://www.douyin.com/video/7100000000000000002",
]


def _rows() -> list[Completion]:
    return [
        Completion(n, 1 + n % 2, 1 + n % 3, "submitted", None, LINKS[n % 3],
                   AT + timedelta(minutes=n), {"view_count": n})
        for n in range(1, 10)
    ]  # fmt: skip


async def test_a_link_saved_meanwhile_by_another_batch_is_taken_as_known(
    db: Db, db_url: str
) -> None:
    rows = _rows()
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2])
        await insert_completions(tx.conn, rows)
    other = await asyncpg.connect(db_url)
    watcher = await asyncpg.connect(db_url)
    try:
        # Another day's batch saves one of the day's links, and has not committed yet.
        await other.execute("BEGIN")
        await other.execute(
            "INSERT INTO dailystats_links (link, platform, video_id, is_short, seen_on)"
            " VALUES ($1, 'yt', 'dQw4w9WgXcQ', false, $2)",
            LINKS[0],
            DAY - timedelta(days=1),
        )
        scan = asyncio.create_task(scan_day(db, DAY, CONFIG, trigger="test"))
        # The scan's insert of that link waits for the other transaction to end.
        await until_someone_waits_for_a_lock(watcher, locktype="transactionid")
        await other.execute("COMMIT")  # the scan's insert now fails on that link
        report = await asyncio.wait_for(scan, 30)
    finally:
        await other.close()
        await watcher.close()
    assert report.status == "succeeded" and report.rows_classified == len(rows)
    async with db.connection() as tx:
        links = await tx.conn.fetch("SELECT link, seen_on FROM dailystats_links ORDER BY link")
        assert sorted(r["link"] for r in links) == sorted(LINKS)
        # The link saved by the other batch is known, and marked used on this day too.
        assert {r["link"]: r["seen_on"] for r in links}[LINKS[0]] == DAY
        assert await stored_rows(tx.conn, DAY) == expected_rows(rows, DAY, UTC, {}, [], False)
        record = await tx.conn.fetchrow("SELECT row_count FROM dailystats_classified_days")
        assert record is not None and record["row_count"] == len(rows)
        assert (await check_day(tx, DAY, UTC, CONFIG.completed_statuses)).same


async def test_a_row_moved_into_a_new_day_changes_the_day_it_left(db: Db) -> None:
    before = DAY - timedelta(days=1)
    rows = [
        dataclasses.replace(r, submitted_at=r.submitted_at - timedelta(days=1)) for r in _rows()
    ]
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2])
        await insert_completions(tx.conn, rows)
    first = await scan_day(db, before, CONFIG, trigger="test")
    assert first.status == "succeeded"
    # The bot moves a completion to the next day, which has no record yet: that day's
    # first scan stores it and takes it from the day before.
    moved = dataclasses.replace(rows[0], submitted_at=AT)
    rows = [moved, *rows[1:]]
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE user_tasks SET submitted_at = $2 WHERE id = $1", moved.id, moved.submitted_at
        )
    scan = await scan_day(db, DAY, CONFIG, trigger="test")
    assert scan.status == "succeeded" and scan.rows_classified == 1
    rescan = await scan_day(db, before, CONFIG, trigger="test")
    assert rescan.status == "succeeded" and not rescan.unchanged
    async with db.connection() as tx:
        for day in (before, DAY):
            assert await stored_rows(tx.conn, day) == expected_rows(rows, day, UTC, {}, [], False)
