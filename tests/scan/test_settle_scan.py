"""What each kind of scan may refresh (spec section 7), scan by scan: the numbers a day
used are stored per video; a settle rescan calls no provider for a video the day already
had and keeps its numbers even where another day's scan fetched newer ones; a full scan
refreshes as always; a settle rescan never clears an owed incomplete rescan. Real parts:
PostgreSQL and the fake providers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import aiohttp
import pytest

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import VideoStats
from daemon.rules.links import VideoRef
from daemon.run.lookback import owed_days
from daemon.scan.day import LiveFetch, ScanConfig, ScanMode, ScanReport, scan_day
from daemon.store.db import Db
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks, stored_rows

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
YT_ID = "dQw4w9WgXcQ"
TT_ID = "7300000000000000001"
NEW_TT = "7300000000000000009"
YT, TT = VideoRef("yt", YT_ID), VideoRef("tt", TT_ID)


@dataclass
class World:
    db: Db
    providers: FakeProviders
    base: str

    async def scan(self, mode: ScanMode, *, prefer_live: bool = False) -> ScanReport:
        config = self.providers.config(
            self.base,
            tikhub_rate_per_second=0.0,
            max_retries=0,
            backoff_base_seconds=0.001,
            backoff_cap_seconds=0.002,
        )
        async with aiohttp.ClientSession() as session:
            report = await scan_day(
                self.db,
                DAY,
                ScanConfig.defaults(prefer_live=prefer_live),
                trigger="test",
                mode=mode,
                live=LiveFetch(session=session, config=config),
            )
        assert report.status == "succeeded", report.error
        return report

    async def sql(self, query: str, *args: Any) -> Any:
        async with self.db.connection() as tx:
            return await tx.conn.fetch(query, *args)

    async def day_numbers(self) -> dict[str, tuple[Any, ...]]:
        rows = await self.sql(
            "SELECT video_key, source, view_count, like_count, fetched_at IS NOT NULL AS f,"
            " run_id FROM dailystats_day_video_stats WHERE stats_date = $1",
            DAY,
        )
        return {r["video_key"]: tuple(r.values())[1:] for r in rows}

    async def another_day_fetched(self, views: int) -> None:
        """A scan of another day fetched these videos since: newer numbers, fresh."""
        for ref in (YT, TT):
            self.providers.add_video(ref.platform, ref.video_id, VideoStats(views, 1, 1))
        await self.sql(
            "UPDATE dailystats_video_stats SET view_count = $1, fetched_at = now()", views
        )

    def calls(self) -> dict[VideoRef, int]:
        return self.providers.asked()


@pytest.fixture
async def world(db: Db) -> AsyncIterator[World]:
    providers = FakeProviders()
    providers.add_video("yt", YT_ID, VideoStats(views=500, likes=50, comments=5))
    providers.add_video("tt", TT_ID, VideoStats(1000, 100, 10))
    providers.add_video("tt", NEW_TT, VideoStats(7, 7, 7))
    async with providers.start() as base:
        async with db.connection() as tx:
            await insert_tasks(tx.conn, [1, 2])
            await insert_completions(
                tx.conn,
                [
                    Completion(1, 1, 1, "submitted", "YouTube", _yt(YT_ID), AT, None),
                    Completion(2, 1, 2, "submitted", "TikTok", _tt(TT_ID), AT, None),
                    # the same TikTok video in another task: one row of day numbers
                    Completion(3, 2, 3, "submitted", "TikTok", _tt(TT_ID), AT, None),
                    # a link that names no video stands alone
                    Completion(4, 2, 4, "submitted", "YouTube", "https://example.com/x", AT, None),
                ],
            )
        yield World(db, providers, base)


def _yt(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def _tt(video_id: str) -> str:
    return f"https://www.tiktok.com/@u/video/{video_id}"


async def test_a_successful_scan_stores_the_numbers_each_video_was_counted_with(
    world: World,
) -> None:
    first = await world.scan("full")
    numbers = await world.day_numbers()
    assert numbers == {
        YT_ID: ("live", 500, 50, True, first.run_id),
        TT_ID: ("live", 1000, 100, True, first.run_id),
        "c:4": ("missing", 0, 0, False, first.run_id),
    }
    # A rescan that changes nothing rewrites nothing (the rows keep their run).
    await world.scan("settle")
    assert await world.day_numbers() == numbers
    # A video no longer of the day loses its row with the scan that sees it gone.
    await world.sql("UPDATE user_tasks SET status = 'rejected' WHERE id = 4")
    await world.scan("settle")
    assert set(await world.day_numbers()) == {YT_ID, TT_ID}


async def test_a_settle_rescan_keeps_the_days_numbers_and_calls_no_provider_for_them(
    world: World,
) -> None:
    await world.scan("full")
    before = await stored_rows_of(world)
    await world.another_day_fetched(views=9999)
    asked = world.calls()
    settle = await world.scan("settle")
    assert world.calls() == asked  # no call at all
    assert settle.mode == "settle" and settle.videos_fetched == 0
    assert settle.rows_changed == 0
    assert await stored_rows_of(world) == before
    assert (await world.day_numbers())[YT_ID][:2] == ("live", 500)  # kept as it was

    # A full scan (SIGHUP, scan --date) takes the newer numbers as always.
    await world.scan("full")
    rows = await stored_rows_of(world)
    assert rows[1]["yt_view_count"] == 9999 and rows[1]["tt_view_count"] == 9999


async def test_a_settle_rescan_asks_only_for_a_video_with_no_stats_at_all(world: World) -> None:
    await world.scan("full")
    async with world.db.connection() as tx:
        await insert_completions(
            tx.conn, [Completion(5, 1, 5, "submitted", "TikTok", _tt(NEW_TT), AT, None)]
        )
    await world.sql("UPDATE dailystats_video_stats SET fetched_at = now() - interval '30 days'")
    asked = world.calls()
    settle = await world.scan("settle")
    after = world.calls()
    assert {ref for ref in after if after[ref] != asked.get(ref, 0)} == {VideoRef("tt", NEW_TT)}
    assert settle.videos_fetched == 1
    rows = await stored_rows_of(world)
    assert rows[1]["tt_view_count"] == 1000 + 7 and rows[1]["yt_view_count"] == 500


async def test_under_live_first_a_settle_rescan_takes_newer_cached_numbers_without_a_call(
    world: World,
) -> None:
    await world.scan("full", prefer_live=True)
    await world.another_day_fetched(views=9999)
    asked = world.calls()
    await world.scan("settle", prefer_live=True)
    assert world.calls() == asked
    assert (await stored_rows_of(world))[1]["yt_view_count"] == 9999


async def test_saved_counts_that_appear_later_win_in_a_settle_rescan(world: World) -> None:
    await world.scan("full")
    await world.sql(
        "UPDATE user_tasks SET verification_details = '{\"view_count\": 4242}' WHERE id = 1"
    )
    asked = world.calls()
    await world.scan("settle")
    assert world.calls() == asked
    assert (await stored_rows_of(world))[1]["yt_view_count"] == 4242
    assert (await world.day_numbers())[YT_ID][:2] == ("saved", 4242)


async def test_a_day_scanned_before_day_numbers_existed_takes_them_from_its_next_scan(
    world: World,
) -> None:
    await world.scan("full")
    await world.sql("DELETE FROM dailystats_day_video_stats")  # as before migration 0011
    await world.sql("UPDATE dailystats_video_stats SET fetched_at = now() - interval '30 days'")
    asked = world.calls()
    settle = await world.scan("settle")
    assert world.calls() == asked  # cached stats, however old: no call
    numbers = await world.day_numbers()
    assert numbers[YT_ID][:2] == ("last_known", 500)
    assert settle.run_id == numbers[YT_ID][-1]


async def test_a_day_never_scanned_successfully_gets_a_full_scan_whatever_was_asked(
    world: World,
) -> None:
    report = await world.scan("settle")
    assert report.mode == "full" and report.videos_fetched == 2


async def test_a_settle_rescan_leaves_an_owed_incomplete_rescan_owed(world: World) -> None:
    await world.scan("full")
    await world.sql("UPDATE dailystats_video_stats SET fetched_at = now() - interval '30 days'")
    world.providers.exceed_youtube_quota()
    stopped = await world.scan("full")
    assert stopped.incomplete_providers == ["youtube"]
    world.providers.faults.clear()  # the quota reset; the stop is this run's only
    assert [o.reason for o in await owed_days(world.db, DAY, 1)] == ["incomplete"]

    asked = world.calls()
    settle = await world.scan("settle")
    assert world.calls() == asked
    assert settle.incomplete_providers == ["youtube"]  # fetched nothing it owed
    assert [o.reason for o in await owed_days(world.db, DAY, 1)] == ["incomplete"]

    incomplete = await world.scan("incomplete")
    after = world.calls()
    assert {ref for ref in after if after[ref] != asked.get(ref, 0)} == {YT}
    assert incomplete.incomplete_providers == []
    assert await owed_days(world.db, DAY, 1) == []


async def stored_rows_of(world: World) -> dict[int, dict[str, int]]:
    async with world.db.connection() as tx:
        return await stored_rows(tx.conn, DAY)
