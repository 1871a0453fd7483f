"""Issue 15: a rescan after some rows changed aggregates only the tasks they touch
(and the tasks sharing their videos); what it writes equals a whole aggregation's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import VideoStats
from daemon.rules.links import short_link_key
from daemon.scan.day import LiveFetch, ScanConfig, ScanReport, scan_day
from daemon.store.db import Db
from tests.scan.scan_reference import (
    Completion,
    expected_scan,
    insert_completions,
    insert_tasks,
    stored_rows,
)

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
SHARED = "https://www.youtube.com/watch?v=sharedvid01"
# What a scan writes for a day, beside task_daily_stats: compared whole against partial.
SNAPSHOT = {
    "task_daily_stats": "SELECT task_id, total_account_count, total_completion_count,"
    " yt_account_count, yt_view_count, yt_like_count, yt_comment_count, tt_account_count,"
    " tt_view_count, tt_like_count, tt_comment_count, dy_account_count, dy_view_count,"
    " dy_like_count, dy_comment_count, dy_share_count, dy_collect_count"
    " FROM task_daily_stats WHERE stats_date = $1",
    "dailystats_node_stats": "SELECT task_id, agent_node, total_account_count,"
    " total_completion_count, yt_account_count, yt_view_count, yt_like_count,"
    " yt_comment_count, tt_account_count, tt_view_count, tt_like_count, tt_comment_count,"
    " dy_account_count, dy_view_count, dy_like_count, dy_comment_count, dy_share_count,"
    " dy_collect_count FROM dailystats_node_stats WHERE stats_date = $1",
    "dailystats_day_video_stats": "SELECT platform, video_key, source, view_count,"
    " like_count, comment_count, share_count, collect_count, fetched_at"
    " FROM dailystats_day_video_stats WHERE stats_date = $1",
    "dailystats_day_tasks": "SELECT task_id, completion_count, video_count, videos_missing,"
    " videos_stale FROM dailystats_day_tasks WHERE stats_date = $1",
}


async def _snapshot(db: Db, day: date) -> dict[str, list[tuple[Any, ...]]]:
    async with db.connection() as tx:
        return {
            table: sorted(tuple(r) for r in await tx.conn.fetch(sql, day))
            for table, sql in SNAPSHOT.items()
        }


async def check_same_as_whole(db: Db, day: date, config: ScanConfig) -> None:
    """Aggregate the day whole again: it must find every row as the last scan left it."""
    before = await _snapshot(db, day)
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE dailystats_classified_days SET change_seq = change_seq + 1,"
            " whole_seq = change_seq + 1 WHERE stats_date = $1",
            day,
        )
    whole = await scan_day(db, day, config, trigger="test")
    assert whole.status == "succeeded", whole.error
    assert (whole.partial, whole.unchanged, whole.rows_changed) == (False, False, 0)
    assert await _snapshot(db, day) == before


def _rows() -> list[Completion]:
    rows = [
        # Tasks 1 and 2 count the same video; task 3 has its own.
        Completion(1, 1, 1, "submitted", "yt", SHARED, AT, {"view_count": 100}),
        Completion(2, 1, 2, "submitted", "yt", "youtu.be/othervid001", AT, {"view_count": 5}),
        Completion(3, 2, 3, "submitted", "yt", SHARED, AT, {"view_count": 50}),
        Completion(4, 3, 4, "submitted", "yt", "youtu.be/thirdvid001", AT, {"view_count": 9}),
    ]
    # Enough rows in task 3 that one change is well under a tenth of the day.
    rows += [
        Completion(i, 3, i, "submitted", "yt", f"youtu.be/filler{i:06d}", AT, {"view_count": 1})
        for i in range(5, 60)
    ]
    return rows


async def _scan(db: Db) -> ScanReport:
    report = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test")
    assert report.status == "succeeded", report.error
    return report


async def _expect(db: Db, rows: list[Completion]) -> None:
    expected, _ = expected_scan(rows, DAY, ZoneInfo("UTC"), {}, [], False)
    async with db.connection() as tx:
        assert await stored_rows(tx.conn, DAY) == expected


async def _updated_at(db: Db) -> dict[int, datetime]:
    async with db.connection() as tx:
        records = await tx.conn.fetch(
            "SELECT task_id, updated_at FROM task_daily_stats WHERE stats_date = $1", DAY
        )
    return {r["task_id"]: r["updated_at"] for r in records}


async def test_a_changed_row_reaggregates_its_task_and_the_tasks_sharing_its_video(
    db: Db,
) -> None:
    rows = _rows()
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2, 3])
        await insert_completions(tx.conn, rows)
    first = await _scan(db)
    assert not first.partial
    before = await _updated_at(db)

    # Task 1's completion of the shared video saves more views: the video's saved
    # counts are the day's, so task 2's row changes too; task 3 is not read again.
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE user_tasks SET verification_details = '{\"view_count\": 700}' WHERE id = 1"
        )
    rows[0] = Completion(1, 1, 1, "submitted", "yt", SHARED, AT, {"view_count": 700})
    again = await _scan(db)
    assert (again.partial, again.rows_classified, again.rows_changed) == (True, 1, 2)
    # (a video counts once in each task that counts it)
    assert (again.task_count, again.completion_count, again.video_count) == (3, 59, 59)
    await _expect(db, rows)
    after = await _updated_at(db)
    assert after[3] == before[3] and after[1] > before[1] and after[2] > before[2]
    await check_same_as_whole(db, DAY, ScanConfig.defaults())

    # A rejection: the shared video falls back to task 2's saved counts (both rows change).
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE user_tasks SET status = 'rejected' WHERE id = 1")
    del rows[0]
    rejected = await _scan(db)
    assert (rejected.partial, rejected.rows_changed) == (True, 2)
    assert (rejected.completion_count, rejected.video_count) == (58, 58)
    await _expect(db, rows)
    await check_same_as_whole(db, DAY, ScanConfig.defaults())


async def test_what_is_not_noted_row_by_row_aggregates_the_whole_day(db: Db) -> None:
    rows = _rows()
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2, 3])
        await insert_completions(tx.conn, rows)
    await _scan(db)

    # A user moved to another node: every task of theirs may split differently.
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE users SET agent_node = 'north' WHERE user_id = 4")
    moved = await _scan(db)
    assert (moved.partial, moved.unchanged) == (False, False)

    # More than a tenth of the day changed: read whole, not row by row.
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE user_tasks SET verification_details = '{\"view_count\": 2}' WHERE id >= 40"
        )
    many = await _scan(db)
    assert (many.partial, many.rows_classified) == (False, 20)
    rows = [
        r
        if r.id < 40
        else Completion(r.id, 3, r.user_id, "submitted", "yt", r.link, AT, {"view_count": 2})
        for r in rows
    ]
    await _expect(db, rows)

    # One more row changed: partial again.
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE user_tasks SET status = 'rejected' WHERE id = 4")
    one = await _scan(db)
    assert one.partial
    await _expect(db, [r for r in rows if r.id != 4])


async def test_a_new_short_link_in_a_changed_row_aggregates_the_whole_day(db: Db) -> None:
    """The video an unanswered short link resolves to may be counted by a task out of
    scope (its saved counts are the day's): a scan that resolves links goes whole."""
    douyin = "7400000000000000009"
    short = "https://v.douyin.com/iRnewone/"
    providers = FakeProviders()
    providers.add_video("dy", douyin, VideoStats(1000, 20, 30, 40, 50))
    providers.add_short_link(short, f"https://www.iesdouyin.com/share/video/{douyin}/")
    rows = _rows()
    # Task 2 counts the Douyin video by its full link, with saved counts.
    rows.append(
        Completion(
            60, 2, 60, "submitted", "dy", f"douyin.com/video/{douyin}", AT, {"view_count": 100}
        )
    )
    async with providers.start() as base, aiohttp.ClientSession() as session:
        live = LiveFetch(session=session, config=providers.config(base))
        async with db.connection() as tx:
            await insert_tasks(tx.conn, [1, 2, 3])
            await insert_completions(tx.conn, rows)
        first = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test", live=live)
        assert first.status == "succeeded", first.error
        # Task 1 gains a completion of the same video through a short link, no counts.
        late = Completion(61, 1, 61, "submitted", "dy", short, AT, None)
        async with db.connection() as tx:
            await insert_completions(tx.conn, [late])
        again = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test", live=live)
    assert again.status == "succeeded", again.error
    async with db.connection() as tx:
        stored = await stored_rows(tx.conn, DAY)
    # The video's saved counts are the day's: task 2's 100 views, in task 1 too.
    assert stored[1]["dy_view_count"] == 100
    assert stored[2]["dy_view_count"] == 100
    assert (again.partial, again.short_links_resolved) == (False, 1)


async def test_a_short_link_answered_and_replaced_since_leaves_no_stale_video(db: Db) -> None:
    """A row's short link, unanswered when the day was aggregated (stored as its
    compared form), is answered and then the row links another video: the partial
    rescan drops the link's per-video row, as a whole aggregation would. (Found by the
    property test: the old row's video was looked up by its answer only.)"""
    short = "https://vm.tiktok.com/ZMpartial/"
    rows = _rows()
    rows.append(Completion(60, 3, 60, "submitted", "tt", short, AT, {"view_count": 3}))
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2, 3])
        await insert_completions(tx.conn, rows)
    assert not (await _scan(db)).partial
    async with db.connection() as tx:
        keys = await tx.conn.fetch(
            "SELECT video_key FROM dailystats_day_video_stats WHERE platform = 'tt'"
        )
        assert [r["video_key"] for r in keys] == [f"s:{short_link_key(short)}"]
        await tx.conn.execute(
            "INSERT INTO dailystats_short_links (link, platform, video_id)"
            " VALUES ($1, 'tt', '7000000000000000009')",
            short_link_key(short),
        )
        await tx.conn.execute(
            "UPDATE user_tasks SET submission_link = 'https://youtu.be/replaced001',"
            " platform = 'yt' WHERE id = 60"
        )
    again = await _scan(db)
    assert again.partial
    async with db.connection() as tx:
        left = await tx.conn.fetchval(
            "SELECT count(*) FROM dailystats_day_video_stats WHERE platform = 'tt'"
        )
    assert left == 0
    await check_same_as_whole(db, DAY, ScanConfig.defaults())
