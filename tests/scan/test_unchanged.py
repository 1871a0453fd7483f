"""Issue 15: a rescan that finds nothing changed changes no row, queues no delivery and
asks no provider for the videos the day already has; any changed input is noticed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import VideoStats
from daemon.run.pipeline import outbox_writer
from daemon.scan.day import LiveFetch, ScanConfig, ScanMode, ScanReport, scan_day
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
YT = ["vid00000001", "vid00000002"]
TT = "7300000000000000001"
DY_SHORT = "https://v.douyin.com/iRshort/"
DY = "7400000000000000001"
DELIVERY = DeliveryConfig(allow_private=True)


@pytest.fixture
async def world(db: Db) -> AsyncIterator[tuple[Db, FakeProviders, str]]:
    providers = FakeProviders()
    for video_id in YT:
        providers.add_video("yt", video_id, VideoStats(views=100, likes=2, comments=1))
    providers.add_video("tt", TT, VideoStats(10, 2, 3, 4, 5))
    providers.add_video("dy", DY, VideoStats(1000, 20, 30, 40, 50))
    providers.add_short_link(DY_SHORT, f"https://www.iesdouyin.com/share/video/{DY}/")
    async with providers.start() as base:
        async with db.connection() as tx:
            await insert_tasks(tx.conn, [1, 2], callback_url="https://x2c.example/hook")
            await insert_completions(
                tx.conn,
                [
                    Completion(1, 1, 1, "submitted", "YouTube", f"youtu.be/{YT[0]}", AT, None),
                    Completion(2, 1, 2, "submitted", "yt", f"youtu.be/{YT[1]}", AT, None),
                    Completion(
                        3, 2, 3, "submitted", "tiktok", f"tiktok.com/@u/video/{TT}", AT, None
                    ),
                    Completion(4, 2, 4, "verified", "抖音", DY_SHORT, AT, None),
                    Completion(
                        5, 2, 5, "verified", "dy", "douyin.com/video/9", AT, {"view_count": 7}
                    ),
                ],
            )
        yield db, providers, base


async def _scan(
    db: Db,
    providers: FakeProviders,
    base: str,
    config: ScanConfig | None = None,
    mode: ScanMode = "full",
) -> ScanReport:
    async with aiohttp.ClientSession() as session:
        live = LiveFetch(session=session, config=providers.config(base))
        report = await scan_day(
            db,
            DAY,
            config or ScanConfig.defaults(),
            trigger="test",
            mode=mode,
            live=live,
            enqueue=outbox_writer(DELIVERY),
        )
    assert report.status == "succeeded", report.error
    return report


async def _later(db: Db, seconds: int = 60) -> None:
    """As if the last scan ran ``seconds`` ago (what it fetched and resolved too)."""
    ago = timedelta(seconds=seconds)
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE dailystats_video_stats SET fetched_at = fetched_at - $1::interval", ago
        )
        await tx.conn.execute(
            "UPDATE dailystats_short_links SET resolved_at = resolved_at - $1::interval", ago
        )
        await tx.conn.execute(
            "UPDATE dailystats_classified_days SET aggregated_at = aggregated_at - $1::interval,"
            " stats_mark = stats_mark - $1::interval, links_mark = links_mark - $1::interval,"
            " fetch_due_at = fetch_due_at - $1::interval",
            ago,
        )


async def _state(db: Db) -> tuple[list[Any], list[Any]]:
    async with db.connection() as tx:
        rows = await tx.conn.fetch("SELECT * FROM task_daily_stats ORDER BY task_id")
        deliveries = await tx.conn.fetch("SELECT id, status FROM dailystats_deliveries ORDER BY id")
    return [dict(r) for r in rows], [dict(r) for r in deliveries]


async def test_a_rescan_of_an_unchanged_day_writes_queues_and_asks_nothing(
    world: tuple[Db, FakeProviders, str],
) -> None:
    db, providers, base = world
    first = await _scan(db, providers, base)
    assert first.videos_fetched == 4 and first.short_links_resolved == 1
    assert first.deliveries_queued == 2
    await _later(db)
    before = await _state(db)
    asked = len(providers.requests)

    again = await _scan(db, providers, base)
    assert again.unchanged
    assert (again.rows_classified, again.rows_changed, again.deliveries_queued) == (0, 0, 0)
    assert len(providers.requests) == asked
    assert await _state(db) == before  # not even updated_at moved
    # Its run record holds the day's numbers as they stand.
    assert (again.task_count, again.completion_count, again.video_count) == (
        first.task_count,
        first.completion_count,
        first.video_count,
    )


async def test_each_changed_input_is_noticed(world: tuple[Db, FakeProviders, str]) -> None:
    db, providers, base = world
    await _scan(db, providers, base)
    await _later(db)
    asked = len(providers.requests)

    # A reviewer rejects a completion: its task's numbers change and are sent again.
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE user_tasks SET status = 'rejected' WHERE id = 2")
    changed = await _scan(db, providers, base)
    assert not changed.unchanged
    assert (changed.rows_classified, changed.rows_changed, changed.deliveries_queued) == (1, 1, 1)
    assert len(providers.requests) == asked  # the day's videos are had, and fresh

    # An update that changes nothing the numbers read: classified again, nothing else.
    await _later(db)
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE user_tasks SET node_power_earned = 5 WHERE id = 1")
    touched = await _scan(db, providers, base)
    assert touched.unchanged and touched.rows_classified == 1 and touched.rows_changed == 0

    # The task's payload fields.
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE drama_tasks SET external_task_id = 77 WHERE task_id = 1")
    task = await _scan(db, providers, base)
    assert not task.unchanged and task.rows_changed == 1 and task.deliveries_queued == 1

    # A user's node: the day is aggregated again (its split by node may change).
    await _later(db)
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE users SET agent_node = 'north' WHERE user_id = 3")
    node = await _scan(db, providers, base)
    assert not node.unchanged
    await _later(db)
    assert (await _scan(db, providers, base)).unchanged

    # Settings the numbers depend on: the source policy.
    live_first = await _scan(db, providers, base, ScanConfig.defaults(prefer_live=True))
    assert not live_first.unchanged


async def test_a_full_rescan_still_refreshes_stale_fetched_stats(
    world: tuple[Db, FakeProviders, str],
) -> None:
    db, providers, base = world
    await _scan(db, providers, base)
    await _later(db, 7 * 3600)  # older than VIDEO_STATS_MAX_AGE_SECONDS (6 h)
    asked = len(providers.requests)
    again = await _scan(db, providers, base)
    assert not again.unchanged
    assert again.videos_fetched == 4  # the four fetched videos; the saved one is not
    assert len(providers.requests) > asked


async def test_changed_completed_statuses_classify_the_day_again(
    world: tuple[Db, FakeProviders, str],
) -> None:
    db, providers, base = world
    await _scan(db, providers, base)
    await _later(db)
    config = ScanConfig.defaults()
    fewer = ScanConfig(
        zone=config.zone,
        completed_statuses=("verified",),
        prefer_live=False,
        stats_max_age=config.stats_max_age,
    )
    report = await _scan(db, providers, base, fewer)
    assert not report.unchanged
    assert report.completion_count == 2 and report.rows_classified == 5


async def test_a_settle_rescan_stands_unless_its_own_videos_got_new_stats(
    world: tuple[Db, FakeProviders, str],
) -> None:
    """Another day's fetches, and its own fetched stats going stale, leave a settle
    rescan unchanged (it keeps the numbers the day last used: spec section 7); new
    stats of one of its own videos make it look again."""
    db, providers, base = world
    await _scan(db, providers, base)
    await _later(db, 7 * 3600)  # its fetched stats are stale now
    async with db.connection() as tx:
        await tx.conn.execute(
            "INSERT INTO dailystats_video_stats (platform, video_id, status, view_count,"
            " fetched_at) VALUES ('yt', 'othervideo1', 'ok', 5, now())"
        )
    asked = len(providers.requests)
    settle = await _scan(db, providers, base, mode="settle")
    assert settle.unchanged and len(providers.requests) == asked

    # Another day's scan fetched one of this day's videos again: looked at again (a
    # settle rescan keeps the numbers it used, so nothing changes and nothing is sent).
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE dailystats_video_stats SET fetched_at = now(), view_count = view_count + 1"
            " WHERE video_id = $1",
            YT[0],
        )
    again = await _scan(db, providers, base, mode="settle")
    assert not again.unchanged
    assert (again.rows_changed, again.deliveries_queued) == (0, 0)
    assert len(providers.requests) == asked


CLASSIFICATION = (
    "dailystats_completions",
    "dailystats_links",
    "dailystats_classified_days",
    "dailystats_user_nodes",
    "dailystats_day_changes",
    "dailystats_day_tasks",
)


async def test_a_classification_emptied_by_crash_recovery_is_rebuilt_and_nothing_resent(
    world: tuple[Db, FakeProviders, str],
) -> None:
    """The classification's tables are unlogged (migration 0017): PostgreSQL's crash
    recovery empties them, all together. The next scan classifies the day afresh and
    aggregates it whole; the stored numbers are the same, so nothing is rewritten or
    sent again, and the videos the day had are not asked for again."""
    db, providers, base = world
    await _scan(db, providers, base)
    await _later(db)
    before = await _state(db)
    asked = len(providers.requests)
    async with db.connection() as tx:
        kinds = await tx.conn.fetch(
            "SELECT relname, relpersistence::text FROM pg_class WHERE relname = ANY($1::text[])",
            list(CLASSIFICATION),
        )
        assert {r["relname"]: r["relpersistence"] for r in kinds} == dict.fromkeys(
            CLASSIFICATION, "u"
        )
        await tx.conn.execute(f"TRUNCATE {', '.join(CLASSIFICATION)}")  # as recovery does

    again = await _scan(db, providers, base)
    assert not again.unchanged and not again.partial
    assert again.rows_classified == 5
    assert (again.rows_changed, again.deliveries_queued) == (0, 0)
    assert len(providers.requests) == asked
    assert await _state(db) == before
    await _later(db)
    assert (await _scan(db, providers, base)).unchanged  # and the record is whole again
