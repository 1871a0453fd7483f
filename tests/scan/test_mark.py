"""Issue 15: a rescan compares only the rows written since the day's mark, when the
rest of the day is exactly what is stored; a row deleted or moved to another day
since, settings changed, or a pass cut short, compares the day whole."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from daemon.run.classifier import classify_pass
from daemon.scan.classify import check_day
from daemon.scan.day import ScanConfig, scan_day
from daemon.store.db import Db
from tests.scan.scan_reference import (
    Completion,
    completions_now,
    expected_rows,
    insert_completions,
    insert_tasks,
    stored_rows,
)

DAY = date(2024, 12, 9)
UTC = ZoneInfo("UTC")
CONFIG = ScanConfig.defaults()
STATUSES = CONFIG.completed_statuses
AT = datetime(2024, 12, 9, 10)


def _rows(count: int) -> list[Completion]:
    return [
        Completion(
            n,
            1 + n % 2,
            1 + n % 3,
            "submitted",
            None,
            f"youtu.be/vid{n:08d}",
            AT + timedelta(minutes=n),
            {"view_count": n},
        )
        for n in range(1, count + 1)
    ]


async def _scan_matches_reference(db: Db) -> int:
    """Scan the day; its rows must be the reference's. Returns the ids it looked at."""
    report = await scan_day(db, DAY, CONFIG, trigger="test")
    assert report.status == "succeeded", report.error
    async with db.connection() as tx:
        expected = expected_rows(await completions_now(tx.conn), DAY, UTC, {}, [], False)
        assert await stored_rows(tx.conn, DAY) == expected
    return report.rows_classified


async def _check(db: Db) -> list[int] | None:
    async with db.connection() as tx:
        check = await check_day(tx, DAY, UTC, STATUSES)
    assert not check.same
    return check.since_ids


async def _sql(db: Db, sql: str) -> None:
    async with db.connection() as tx:
        await tx.conn.execute(sql)


async def test_a_rescan_compares_only_the_rows_written_since(db: Db) -> None:
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2, 3])
        await insert_completions(tx.conn, _rows(30))
    assert await _scan_matches_reference(db) == 30  # the first: the whole day

    await _sql(
        db, "UPDATE user_tasks SET verification_details = '{\"view_count\": 999}' WHERE id = 4"
    )
    await _sql(db, "UPDATE user_tasks SET status = 'rejected' WHERE id = 7")
    await _sql(db, "UPDATE user_tasks SET status = 'in_progress' WHERE id = 9")
    await _sql(db, "UPDATE user_tasks SET status = 'verified' WHERE id = 9")  # and back
    await _sql(
        db,
        "INSERT INTO user_tasks (id, user_id, task_id, status, submission_link, submitted_at)"
        " VALUES (31, 1, 1, 'submitted', 'youtu.be/vid00000031', '2024-12-09 23:00')",
    )
    # A row that is not a completion, written since: read, never stored.
    await _sql(db, "UPDATE user_tasks SET status = 'in_progress' WHERE id = 12")
    await _sql(db, "UPDATE user_tasks SET status = 'submitted' WHERE id = 12")
    # (Those at least: a transaction still running elsewhere in the cluster holds a
    # snapshot's xmin back, and the rows written after it are looked up too.)
    assert {4, 7, 9, 12, 31} <= set(await _check(db) or [])
    assert await _scan_matches_reference(db) == 5  # looked up by id

    # Unchanged since: nothing to compare; then a second round of changes.
    async with db.connection() as tx:
        assert (await check_day(tx, DAY, UTC, STATUSES)).same
    await _sql(db, "UPDATE user_tasks SET submission_link = 'youtu.be/vid00000001' WHERE id = 2")
    assert 2 in (await _check(db) or [])
    assert await _scan_matches_reference(db) == 1


async def test_a_row_deleted_or_moved_away_compares_the_day_whole(db: Db) -> None:
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2, 3])
        await insert_completions(tx.conn, _rows(20))
    await _scan_matches_reference(db)

    await _sql(db, "DELETE FROM user_tasks WHERE id = 5")
    assert await _check(db) is None  # the rest of the day is not what is stored
    assert await _scan_matches_reference(db) == 1  # the comparison found the one row

    await _sql(db, "UPDATE user_tasks SET submitted_at = '2024-12-10 01:00' WHERE id = 6")
    assert await _check(db) is None
    assert await _scan_matches_reference(db) == 1

    # Back to a mark: the next change is looked up by id again.
    await _sql(db, "UPDATE user_tasks SET status = 'rejected' WHERE id = 8")
    assert 8 in (await _check(db) or [])


async def test_new_settings_or_a_pass_cut_short_keep_no_mark(db: Db, db_url: str) -> None:
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2, 3])
        await insert_completions(tx.conn, _rows(12))
    await _scan_matches_reference(db)
    await _sql(db, "UPDATE user_tasks SET status = 'approved' WHERE id = 3")
    async with db.connection() as tx:  # other completed statuses: classified afresh
        other = await check_day(tx, DAY, UTC, [*STATUSES, "paid"])
    assert not other.same and other.since_ids is None

    # A pass that could not finish the day (it is being scanned) leaves its mark.
    await _sql(db, "UPDATE dailystats_classified_days SET xid_mark = '3'")
    before = "3"
    holder = await asyncpg.connect(db_url)
    try:
        await holder.execute("SELECT pg_advisory_lock(7210135, $1::date - DATE '2000-01-01')", DAY)
        report = await classify_pass(db, UTC, STATUSES, [DAY])
        assert report.days_busy == 1
    finally:
        await holder.close()
    async with db.connection() as tx:
        after = await tx.conn.fetchval("SELECT xid_mark::text FROM dailystats_classified_days")
    assert after == before
    report = await classify_pass(db, UTC, STATUSES, [DAY])
    assert (report.days_busy, report.rows_looked_at) == (0, 1)
    async with db.connection() as tx:
        moved = await tx.conn.fetchval("SELECT xid_mark::text FROM dailystats_classified_days")
    assert int(moved) > int(before)
    assert await _scan_matches_reference(db) == 0  # the pass left it up to date
