"""Issue 15: the intraday pass groups a complete day ahead of its first scan, and that
scan regroups the groups instead of reading the rows; groups that no longer stand for
the day's rows (a row changed, a node moved) are never used."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.rules.links import short_link_key
from daemon.run.classifier import PassReport, classify_pass
from daemon.scan.day import ScanConfig, scan_day
from daemon.scan.report import ScanReport
from daemon.store.db import Db
from tests.scan.scan_reference import (
    Completion,
    completions_now,
    expected_rows,
    insert_completions,
    insert_tasks,
    stored_rows,
)
from tests.scan.test_partial import check_same_as_whole

DAY = date(2024, 12, 9)
UTC = ZoneInfo("UTC")
CONFIG = ScanConfig.defaults()
AT = datetime(2024, 12, 9, 10)
SHARED = "https://www.youtube.com/watch?v=sharedvid01"


def _rows() -> list[Completion]:
    """Videos counted by several tasks and users, a lone completion, an unresolved short
    link, saved counts and none, users on two nodes."""
    rows = [
        Completion(1, 1, 1, "submitted", "yt", SHARED, AT, {"view_count": 100}),
        Completion(2, 1, 2, "submitted", "yt", SHARED, AT - timedelta(hours=1), None),
        Completion(3, 2, 3, "submitted", "yt", SHARED, AT, {"view_count": 70}),
        Completion(4, 2, 4, "submitted", "Instagram", "https://instagram.com/reel/x", AT, None),
        Completion(5, 3, 5, "submitted", "tiktok", "https://vt.tiktok.com/ZSabc/", AT, None),
        Completion(
            6,
            3,
            6,
            "submitted",
            "dy",
            "https://www.douyin.com/video/71",
            AT,
            {"view_count": 5, "share_count": 2},
        ),
    ]
    rows += [
        Completion(
            i,
            1 + i % 3,
            i % 7 + 1,
            "submitted",
            "yt",
            f"youtu.be/filler{i:06d}",
            AT + timedelta(minutes=i),
            {"view_count": i},
        )
        for i in range(7, 40)
    ]
    return rows


async def _sql(db: Db, sql: str) -> None:
    async with db.connection() as tx:
        await tx.conn.execute(sql)


async def _setup(db: Db) -> None:
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2, 3])
        await insert_completions(tx.conn, _rows())
        await tx.conn.execute(
            "UPDATE users SET agent_node = CASE WHEN user_id % 2 = 0 THEN 'north' END"
        )


async def _pass(db: Db) -> PassReport:
    return await classify_pass(db, UTC, CONFIG.completed_statuses, [DAY], batch=10)


async def _scan(db: Db) -> ScanReport:
    """Scan the day: its rows must be the reference's, and a whole aggregation from its
    rows must find every stored number (rows, split by node, per-video) as it left them."""
    report = await scan_day(db, DAY, CONFIG, trigger="test")
    assert report.status == "succeeded", report.error
    async with db.connection() as tx:
        expected = expected_rows(await completions_now(tx.conn), DAY, UTC, {}, [], False)
        assert await stored_rows(tx.conn, DAY) == expected
    await check_same_as_whole(db, DAY, CONFIG)
    return report


async def test_the_first_scan_regroups_what_the_pass_grouped(db: Db) -> None:
    await _setup(db)
    assert (await _pass(db)).days_grouped == 1
    assert (await _pass(db)).days_grouped == 0  # they stand: not grouped again
    report = await _scan(db)
    assert report.grouped_ahead and not report.partial
    assert report.completion_count == 39
    assert (await _pass(db)).days_grouped == 0  # aggregated: its rescans go partial


async def test_groups_of_rows_changed_since_are_not_used(db: Db) -> None:
    await _setup(db)
    assert (await _pass(db)).days_grouped == 1
    await _sql(
        db, "UPDATE user_tasks SET verification_details = '{\"view_count\": 999}' WHERE id = 2"
    )
    report = await _scan(db)  # classifies the row again: the counter moved on
    assert report.rows_classified == 1
    assert not report.grouped_ahead


async def test_groups_after_a_node_moved_are_not_used(db: Db) -> None:
    await _setup(db)
    assert (await _pass(db)).days_grouped == 1
    await _sql(db, "UPDATE users SET agent_node = 'south' WHERE user_id = 2")
    report = await _scan(db)
    assert not report.grouped_ahead
    async with db.connection() as tx:
        nodes = await tx.conn.fetch(
            "SELECT agent_node FROM dailystats_node_stats WHERE task_id = 1 ORDER BY 1"
        )
    assert "south" in [r["agent_node"] for r in nodes]  # user 2's, of task 1


async def test_a_later_pass_groups_the_day_again_after_a_change(db: Db) -> None:
    await _setup(db)
    assert (await _pass(db)).days_grouped == 1
    await _sql(db, "UPDATE user_tasks SET status = 'rejected' WHERE id = 3")
    await _sql(db, "DELETE FROM user_tasks WHERE id = 7")
    assert (await _pass(db)).days_grouped == 1
    report = await _scan(db)
    assert report.grouped_ahead
    assert report.completion_count == 37


async def test_the_pass_does_not_group_today(db: Db) -> None:
    today = datetime.now(UTC).date()
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
        moment = datetime.combine(today, datetime.min.time())
        await insert_completions(
            tx.conn, [Completion(1, 1, 1, "submitted", "yt", SHARED, moment, {"view_count": 1})]
        )
    report = await classify_pass(db, UTC, CONFIG.completed_statuses, [today])
    assert (report.days_changed, report.days_grouped) == (1, 0)


RESOLVED = "https://vm.tiktok.com/ZMresolved/"
ELSEWHERE = "https://vm.tiktok.com/ZMelsewhere/"
PENDING = "https://vm.tiktok.com/ZMpending/"
TT_VIDEO = "7000000000000000001"
ANSWERS = {
    short_link_key(RESOLVED): ("tt", TT_VIDEO),  # a video task 1 also counts by its id
    short_link_key(ELSEWHERE): ("yt", "dQw4w9WgXcQ"),  # another platform's video
}


def _short_rows() -> list[Completion]:
    at = AT
    return [
        Completion(
            1,
            1,
            1,
            "submitted",
            "tt",
            f"https://www.tiktok.com/@a/video/{TT_VIDEO}",
            at,
            {"view_count": 40},
        ),
        Completion(
            2, 1, 2, "submitted", "tt", RESOLVED, at - timedelta(hours=1), {"view_count": 90}
        ),
        Completion(3, 1, 3, "submitted", "tt", PENDING, at, {"view_count": 7}),
        Completion(4, 1, 4, "submitted", "tt", PENDING, at, {"view_count": 5}),
        Completion(5, 2, 5, "submitted", "tt", ELSEWHERE, at, {"view_count": 11}),
        Completion(6, 2, 6, "submitted", "tt", ELSEWHERE, at, {"view_count": 13}),
    ]


@pytest.mark.parametrize("grouped_ahead", [False, True])
async def test_short_link_groups_merge_into_one_video_per_task(db: Db, grouped_ahead: bool) -> None:
    """Completions of one unanswered short link are one video of the task, an answered
    one joins the video it names, one naming another platform's video leaves each of
    its completions alone: the same numbers whether the pass grouped the day or not."""
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2])
        await insert_completions(tx.conn, _short_rows())
        await tx.conn.executemany(
            "INSERT INTO dailystats_short_links (link, platform, video_id) VALUES ($1, $2, $3)",
            [(link, p, v) for link, (p, v) in ANSWERS.items()],
        )
    if grouped_ahead:
        assert (await _pass(db)).days_grouped == 1
    report = await scan_day(db, DAY, CONFIG, trigger="test")
    assert report.status == "succeeded", report.error
    assert report.grouped_ahead == grouped_ahead
    # task 1: the id'd video and its answered short link (one), the pending link (one);
    # task 2: the link answered with a YouTube video, each of its two completions alone.
    assert report.video_count == 4
    async with db.connection() as tx:
        expected = expected_rows(await completions_now(tx.conn), DAY, UTC, ANSWERS, [], False)
        assert await stored_rows(tx.conn, DAY) == expected
    assert expected[1]["tt_view_count"] == 90 + 7  # the day's largest of each video
    assert expected[2]["tt_view_count"] == 11 + 13
