"""Issue 15: a rescan compares only the rows written since the day's mark, when the
rest of the day is exactly what is stored; a row deleted or moved to another day
since, settings changed, or a pass cut short, compares the day whole."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from daemon.run.classifier import classify_pass
from daemon.scan.classify import DayCheck, check_day, judge_day
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


@pytest.mark.parametrize(
    ("xmin", "mark32", "since"),
    [
        (100, 100, True),  # written by the mark's own transaction
        (99, 100, False),
        (100 + 2**31 - 1, 100, True),  # as far ahead as the ring allows
        (4294967290, 4294967290, True),
        (5, 4294967290, True),  # written after the counter wrapped past the mark
        (4294967280, 4294967290, False),  # before the mark, across no wrap
        (4294967295, 5, False),  # before the mark, across the wrap
    ],
)
async def test_written_since_follows_the_xid_ring(
    db: Db, xmin: int, mark32: int, since: bool
) -> None:
    async with db.connection() as conn:
        got = await conn.conn.fetchval(
            "SELECT dailystats_written_since($1::text::xid, $2)", str(xmin), mark32
        )
    assert got is since


_DAY = {"row_count": 10, "row_xor": 0b1010, "same_key": True}
_READ = {"n": 10, "x": 0b1010, "mark": 77, "since_ids": None}


@pytest.mark.parametrize(
    ("day", "read", "expected"),
    [
        # No record yet: classified whole.
        (None, _READ, DayCheck(False, 77, None)),
        # Exactly the stored rows: nothing to do.
        (_DAY, _READ, DayCheck(True, 77, None)),
        # Same pairs under other settings: everything again.
        ({**_DAY, "same_key": False}, _READ, DayCheck(False, 77, None)),
        # Two rows written since: one stored (hash 0b0010) now done as 0b0100, one new
        # (0b1000); the rest (count 9, XOR 0b1000) is the same on both sides.
        (
            _DAY,
            {
                "n": 11,
                "x": 0b1000 ^ 0b0100 ^ 0b1000,
                "mark": 78,
                "since_ids": [3, 11],
                "since_done": 2,
                "since_done_xor": 0b0100 ^ 0b1000,
                "since_stored": 1,
                "since_stored_xor": 0b0010,
            },
            DayCheck(False, 78, [3, 11]),
        ),
        # A stored row deleted since (not among the ids): the rest differ, compare whole.
        (
            _DAY,
            {
                "n": 9,
                "x": 0b1000 ^ 0b0100 ^ 0b0001,
                "mark": 78,
                "since_ids": [3],
                "since_done": 1,
                "since_done_xor": 0b0100,
                "since_stored": 1,
                "since_stored_xor": 0b0010,
            },
            DayCheck(False, 78, None),
        ),
        # Too many written since (no list): compare whole.
        (_DAY, {**_READ, "n": 11}, DayCheck(False, 77, None)),
    ],
)
def test_judge_day(
    day: dict[str, object] | None, read: dict[str, object], expected: DayCheck
) -> None:
    assert judge_day(day, read) == expected
