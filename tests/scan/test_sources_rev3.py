"""Where a video's counts come from, revision 3 of spec section 3, through the scan with
the fake providers on a local port: saved counts are the day's across tasks,
``live_first``'s order, and a count a successful answer leaves out on purpose."""

from __future__ import annotations

from datetime import date, datetime

import aiohttp

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import VideoStats
from daemon.scan.day import LiveFetch, ScanConfig, ScanReport, scan_day
from daemon.store.db import Db
from tests.scan.scan_reference import (
    Completion,
    insert_completions,
    insert_tasks,
    seven_hours_later,
    stored_rows,
)

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
YT_ID = "dQw4w9WgXcQ"
YT_LINK = f"https://www.youtube.com/watch?v={YT_ID}"


async def _scan(
    db: Db, fake: tuple[FakeProviders, str], *, prefer_live: bool = False
) -> ScanReport:
    providers, base = fake
    config = providers.config(base, max_retries=1, backoff_base_seconds=0.001)
    async with aiohttp.ClientSession() as session:
        report = await scan_day(
            db,
            DAY,
            ScanConfig.defaults(prefer_live=prefer_live),
            trigger="test",
            live=LiveFetch(session=session, config=config),
        )
    assert report.status == "succeeded", report.error
    return report


async def _rows(db: Db) -> dict[int, dict[str, int]]:
    async with db.connection() as tx:
        return await stored_rows(tx.conn, DAY)


async def test_a_video_saved_in_one_task_has_the_same_numbers_in_another(
    db: Db, fake: tuple[FakeProviders, str]
) -> None:
    providers, _ = fake
    providers.add_video("yt", YT_ID, VideoStats(views=5000, likes=1, comments=1))
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2])
        await insert_completions(
            tx.conn,
            [
                Completion(1, 1, 1, "submitted", "YouTube", YT_LINK, AT, {"view_count": 1000}),
                Completion(2, 2, 2, "submitted", "YouTube", YT_LINK, AT, None),
            ],
        )
    for _ in range(2):
        report = await _scan(db, fake)
        rows = await _rows(db)
        assert rows[1]["yt_view_count"] == rows[2]["yt_view_count"] == 1000
        assert report.videos_missing == 0
    # Saved counts were had for the video that day: nothing fetched.
    assert providers.requests_to("youtube") == []


async def test_live_first_takes_the_more_recent_of_saved_and_last_known(db: Db) -> None:
    """No fresh stats and no live source: saved (verified_at, else submitted_at) against
    last known (fetched at), the more recent wins; a month-old number never wins."""
    saved = {"view_count": 5000, "like_count": 300, "comment_count": 40}
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
        await insert_completions(
            tx.conn,
            [
                Completion(
                    1,
                    1,
                    1,
                    "submitted",
                    "YouTube",
                    YT_LINK,
                    AT,
                    saved,
                    verified_at=datetime(2024, 12, 10, 12, 0),
                )
            ],
        )
        await tx.conn.execute(
            "INSERT INTO dailystats_video_stats (platform, video_id, status, view_count,"
            " like_count, comment_count, partial, fetched_at)"
            " VALUES ('yt', $1, 'ok', 100, 2, 1, false, '2024-11-09 09:30+00')",
            YT_ID,
        )
    config = ScanConfig.defaults(prefer_live=True)

    async def counts() -> tuple[int, int, int]:
        report = await scan_day(db, DAY, config, trigger="test")
        assert report.status == "succeeded", report.error
        row = (await _rows(db))[1]
        return row["yt_view_count"], row["yt_like_count"], row["yt_comment_count"]

    assert await counts() == (5000, 300, 40)
    # Fetched after the completion was submitted but before it was verified: saved wins.
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE dailystats_video_stats SET fetched_at = '2024-12-10 10:00+00'"
        )
    assert await counts() == (5000, 300, 40)
    # Fetched after the verification: the last known numbers are the more recent.
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE dailystats_video_stats SET fetched_at = '2024-12-10 13:00+00'"
        )
    assert await counts() == (100, 2, 1)
    # The default policy keeps saved counts first.
    report = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test")
    assert report.status == "succeeded"
    assert (await _rows(db))[1]["yt_view_count"] == 5000


async def test_counts_a_successful_answer_leaves_out_are_a_fresh_zero(
    db: Db, fake: tuple[FakeProviders, str]
) -> None:
    """YouTube hides likes and comments: 500/80/5 first, 600 with neither seven hours on."""
    providers, _ = fake
    providers.add_video("yt", YT_ID, VideoStats(views=500, likes=80, comments=5))
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
        await insert_completions(
            tx.conn, [Completion(1, 1, 1, "submitted", "YouTube", YT_LINK, AT, None)]
        )
    await _scan(db, fake)
    assert (await _rows(db))[1]["yt_like_count"] == 80
    async with db.connection() as tx:
        await seven_hours_later(tx.conn)
    providers.add_video("yt", YT_ID, VideoStats(views=600, likes=None, comments=None))
    report = await _scan(db, fake)
    assert report.videos_fetched == 1 and report.videos_stale == 0
    row = (await _rows(db))[1]
    assert (row["yt_view_count"], row["yt_like_count"], row["yt_comment_count"]) == (600, 0, 0)
    async with db.connection() as tx:
        cached = await tx.conn.fetchrow(
            "SELECT view_count, like_count, comment_count, partial FROM dailystats_video_stats"
        )
    assert tuple(cached.values()) == (600, 0, 0, False)
