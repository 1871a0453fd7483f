"""The whole pipeline on real parts: PostgreSQL, fake YouTube and TikHub servers and a
fake X2C receiver, all real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import aiohttp
import pytest

from daemon.demo.fake_providers import FakeProviders
from daemon.demo.fake_receiver import WebhookReceiver
from daemon.fetch import FetchCounters, VideoStats
from daemon.rules.links import VideoRef
from daemon.run.pipeline import outbox_writer
from daemon.scan.day import LiveFetch, ScanConfig, scan_day
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.sender import create_session, deliver_due
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks, stored_rows

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
SECRET = "x2c-密钥"
YT_IDS = [f"vid{n:08d}" for n in range(60)]  # 60 missing YouTube videos: two calls of 50 and 10
TT_IDS = [str(7_300_000_000_000_000_000 + n) for n in range(6)]
DY_SHORT = "https://v.douyin.com/iRshort/"
DY_RESOLVED = "7400000000000000001"


def _config() -> ScanConfig:
    return ScanConfig.defaults()


@pytest.fixture
async def world(db: Db) -> AsyncIterator[tuple[Db, FakeProviders, str, WebhookReceiver]]:
    providers = FakeProviders()
    for n, video_id in enumerate(YT_IDS):
        # Every third creator hides likes: the API leaves likeCount out.
        likes = None if n % 3 == 0 else 2
        providers.add_video("yt", video_id, VideoStats(views=100, likes=likes, comments=1))
    for video_id in TT_IDS[:-1]:
        providers.add_video("tt", video_id, VideoStats(10, 2, 3, 4, 5))
    # TT_IDS[-1] is not known to the fake: a deleted video.
    providers.add_video("dy", DY_RESOLVED, VideoStats(1000, 20, 30, 40, 50))
    providers.add_short_link(DY_SHORT, f"https://www.iesdouyin.com/share/video/{DY_RESOLVED}/")

    async with providers.start() as base, WebhookReceiver(secret=SECRET) as receiver:
        async with db.connection() as tx:
            await insert_tasks(
                tx.conn, [1, 2], callback_url=receiver.url("/hook"), callback_secret=SECRET
            )
            completions = [
                Completion(
                    n + 1,
                    1,
                    n + 1,
                    "submitted",
                    "YouTube",
                    f"https://www.youtube.com/watch?v={video_id}",
                    AT,
                    None,
                )
                for n, video_id in enumerate(YT_IDS)
            ]
            # The same YouTube video submitted again, as a short link form: counted once.
            completions.append(
                Completion(100, 1, 1, "approved", "yt", f"https://youtu.be/{YT_IDS[1]}", AT, None)
            )
            completions += [
                Completion(
                    200 + n,
                    2,
                    200 + n,
                    "submitted",
                    "TikTok",
                    f"https://www.tiktok.com/@u/video/{video_id}",
                    AT,
                    None,
                )
                for n, video_id in enumerate(TT_IDS)
            ]
            completions.append(Completion(300, 2, 300, "verified", "抖音", DY_SHORT, AT, None))
            # Saved stats win over a live fetch: this video must not be asked for.
            completions.append(
                Completion(
                    301,
                    2,
                    301,
                    "verified",
                    "douyin",
                    "https://www.douyin.com/video/999",
                    AT,
                    {"view_count": 5, "share_count": "6"},
                )
            )
            await insert_completions(tx.conn, completions)
        yield db, providers, base, receiver


async def test_scan_fetches_each_missing_video_once_and_delivers_signed_stats(
    world: tuple[Db, FakeProviders, str, WebhookReceiver],
) -> None:
    db, providers, base, receiver = world
    fetch = providers.config(base, tikhub_rate_per_second=5.0)
    delivery = DeliveryConfig(allow_private=True, timeout_seconds=5)
    async with aiohttp.ClientSession() as session:
        live = LiveFetch(session=session, config=fetch, counters=FetchCounters())
        report = await scan_day(
            db, DAY, _config(), trigger="test", live=live, enqueue=outbox_writer(delivery)
        )
    assert report.status == "succeeded", report.error
    assert (report.videos_fetched, report.videos_gone, report.videos_failed) == (66, 1, 0)
    assert report.short_links_resolved == 1
    assert report.videos_missing == 1  # the deleted TikTok video
    assert report.deliveries_queued == 2

    # YouTube ids in batches of 50; every video asked for exactly once.
    youtube_calls = providers.requests_to("youtube")
    assert len(youtube_calls) == math.ceil(len(YT_IDS) / 50)
    assert sorted(len(c.ids) for c in youtube_calls) == [10, 50]
    assert set(providers.asked().values()) == {1}
    assert VideoRef("dy", "999") not in providers.asked()
    # The cheapest plan: 6 TikTok singles, one Douyin detail and one statistics call.
    # (The per-endpoint rate limit is proven with an injected clock in test_fetch_unit;
    # arrival times at a server on a loaded machine prove nothing.)
    assert providers.tikhub_calls() == {"tiktok": 6, "douyin": 1, "douyin_statistics": 1}

    async with db.connection() as tx:
        rows = await stored_rows(tx.conn, DAY)
    assert rows[1]["yt_account_count"] == 60
    assert rows[1]["yt_view_count"] == 60 * 100
    assert rows[1]["yt_like_count"] == 40 * 2  # hidden likes count as 0
    assert rows[2]["tt_view_count"] == 5 * 10 and rows[2]["tt_account_count"] == 6
    assert rows[2]["dy_view_count"] == 1000 + 5
    assert rows[2]["dy_share_count"] == 40 + 6

    async with create_session(delivery) as http:
        sent = await deliver_due(db, http, delivery)
    assert sent.delivered == 2
    assert all(r.signature_ok and r.standard_ok for r in receiver.requests)
    bodies = {r.json()["stats"][0]["task_id"]: r.json() for r in receiver.requests}
    assert bodies[1002]["stats"][0] == {
        "project_id": "proj-2",
        "task_id": 1002,
        "duration": 15,
        "stats_date": "2024-12-09",
        "account_count": 8,
        "tt_account_count": 6,
        "tt_view_count": 50,
        "tt_like_count": 10,
        "tt_comment_count": 15,
        "dy_account_count": 2,
        "dy_view_count": 1005,
        "dy_like_count": 20,
        "dy_comment_count": 30,
        "dy_share_count": 46,
        "dy_collect_count": 50,
    }

    # The same day again: stats are cached and fresh, nothing changed, nothing is sent.
    calls_before = len(providers.requests)
    async with aiohttp.ClientSession() as session:
        live = LiveFetch(session=session, config=fetch)
        again = await scan_day(
            db, DAY, _config(), trigger="test", live=live, enqueue=outbox_writer(delivery)
        )
    assert again.status == "succeeded"
    assert again.deliveries_queued == 0 and again.rows_changed == 0
    assert len(providers.requests) == calls_before  # the deleted video too is remembered
    async with create_session(delivery) as http:
        assert (await deliver_due(db, http, delivery)).attempted == 0
    assert len(receiver.requests) == 2


async def test_a_provider_that_fails_never_fails_the_scan(
    world: tuple[Db, FakeProviders, str, WebhookReceiver],
) -> None:
    db, providers, base, _ = world
    providers.exceed_youtube_quota()
    providers.fail_next(None, 500, endpoint="tiktok")
    fetch = providers.config(
        base,
        tikhub_rate_per_second=0.0,
        max_retries=1,
        backoff_base_seconds=0.001,
        backoff_cap_seconds=0.002,
    )
    async with aiohttp.ClientSession() as session:
        report = await scan_day(
            db, DAY, _config(), trigger="test", live=LiveFetch(session=session, config=fetch)
        )
    assert report.status == "succeeded", report.error
    # YouTube's quota stops it (not asked: STOPPED, the day incomplete); TikTok fails.
    assert (report.videos_stopped, report.videos_failed) == (60, 6)
    assert report.incomplete_providers == ["youtube"]
    # The quota answer is final: no YouTube call is retried (both batches may already
    # have been on the wire together when the first 403 came back).
    youtube_calls = providers.requests_to("youtube")
    assert 1 <= len(youtube_calls) <= 2
    assert len({i for c in youtube_calls for i in c.ids}) == sum(len(c.ids) for c in youtube_calls)
    assert report.videos_missing == 66
    async with db.connection() as tx:
        rows = await stored_rows(tx.conn, DAY)
    assert rows[1]["yt_account_count"] == 60 and rows[1]["yt_view_count"] == 0
    # Failures are not cached: the next scan asks again.
    async with db.connection() as tx:
        cached = await tx.conn.fetchval("SELECT count(*) FROM dailystats_video_stats")
    assert cached == 1  # only the resolved Douyin video


async def test_a_deleted_video_is_not_asked_for_again_that_day(
    world: tuple[Db, FakeProviders, str, WebhookReceiver],
) -> None:
    db, providers, base, _ = world
    fetch = providers.config(base, tikhub_rate_per_second=0.0)
    # Stats go stale at once: every live video is asked for again by the second scan.
    config = ScanConfig.defaults(stats_max_age=timedelta(0))
    for _ in range(2):
        async with aiohttp.ClientSession() as session:
            report = await scan_day(
                db, DAY, config, trigger="test", live=LiveFetch(session=session, config=fetch)
            )
        assert report.status == "succeeded"
    asked = providers.asked()
    assert asked[VideoRef("tt", TT_IDS[0])] == 2
    assert asked[VideoRef("tt", TT_IDS[-1])] == 1  # deleted: remembered for a day
