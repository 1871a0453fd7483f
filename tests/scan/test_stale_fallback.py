"""Numbers already delivered never drop (spec section 3, source 4): a rescan hours after
delivery, with TikHub down or a video since gone, uses the last known stats. Real parts:
PostgreSQL, the fake providers and the fake X2C receiver, real servers on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime

import aiohttp
import pytest
from aiohttp import web

from daemon.demo.fake_providers import FakeProviders
from daemon.demo.fake_receiver import WebhookReceiver
from daemon.fetch import FetchConfig, FetchResult, FetchStatus, VideoStats
from daemon.rules.links import VideoRef
from daemon.run.pipeline import outbox_writer
from daemon.scan.day import LiveFetch, ScanConfig, ScanReport, scan_day
from daemon.scan.video_cache import save_fetched
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.sender import create_session, deliver_due
from tests.scan.scan_reference import (
    Completion,
    insert_completions,
    insert_tasks,
    seven_hours_later,
    stored_rows,
)

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
SECRET = "x2c-secret"
YT_ID = "dQw4w9WgXcQ"
TT_IDS = ["7300000000000000001", "7300000000000000002"]
DY_ID = "7400000000000000001"
DELIVERY = DeliveryConfig(allow_private=True, timeout_seconds=5)


@dataclass
class World:
    db: Db
    providers: FakeProviders
    base: str
    receiver: WebhookReceiver

    def config(self, **overrides: object) -> FetchConfig:
        return self.providers.config(
            self.base,
            tikhub_rate_per_second=0.0,
            max_retries=1,
            backoff_base_seconds=0.001,
            backoff_cap_seconds=0.002,
            **overrides,
        )

    async def scan(self, config: FetchConfig) -> ScanReport:
        async with aiohttp.ClientSession() as session:
            report = await scan_day(
                self.db,
                DAY,
                ScanConfig.defaults(),
                trigger="test",
                live=LiveFetch(session=session, config=config),
                enqueue=outbox_writer(DELIVERY),
            )
        assert report.status == "succeeded", report.error
        return report

    async def deliver(self) -> int:
        async with create_session(DELIVERY) as http:
            return (await deliver_due(self.db, http, DELIVERY)).attempted

    async def rows(self) -> dict[int, dict[str, int]]:
        async with self.db.connection() as tx:
            return await stored_rows(tx.conn, DAY)

    async def age_the_cache(self) -> None:
        """Seven hours later: every cached stat is past the six-hour freshness."""
        async with self.db.connection() as tx:
            await seven_hours_later(tx.conn)


@pytest.fixture
async def world(db: Db) -> AsyncIterator[World]:
    providers = FakeProviders()
    providers.add_video("yt", YT_ID, VideoStats(views=500, likes=50, comments=5))
    for video_id in TT_IDS:
        providers.add_video("tt", video_id, VideoStats(1000, 100, 10, 1, 1))
    providers.add_video("dy", DY_ID, VideoStats(8000, 320, 45, 28, 62))
    async with providers.start() as base, WebhookReceiver(secret=SECRET) as receiver:
        async with db.connection() as tx:
            await insert_tasks(
                tx.conn, [1], callback_url=receiver.url("/hook"), callback_secret=SECRET
            )
            links = [
                ("YouTube", f"https://www.youtube.com/watch?v={YT_ID}"),
                *(("TikTok", f"https://www.tiktok.com/@u/video/{v}") for v in TT_IDS),
                ("douyin", f"https://www.douyin.com/video/{DY_ID}"),
            ]
            await insert_completions(
                tx.conn,
                [
                    Completion(n, 1, n, "submitted", platform, link, AT, None)
                    for n, (platform, link) in enumerate(links, start=1)
                ],
            )
        world = World(db, providers, base, receiver)
        # The day scanned and delivered, every video fetched live.
        first = await world.scan(world.config())
        assert (first.videos_fetched, first.videos_missing, first.videos_stale) == (4, 0, 0)
        assert await world.deliver() == 1
        yield world


DELIVERED = {"tt_view_count": 2000, "tt_like_count": 200, "dy_view_count": 8000}


def _delivered(world: World) -> dict[str, int]:
    [request] = world.receiver.requests
    stats: dict[str, int] = request.json()["stats"][0]
    return stats


@asynccontextmanager
async def _tikhub_down(kind: str) -> AsyncIterator[str]:
    """A TikHub base URL where every call fails: 500s, or nothing listening at all."""
    if kind == "refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}"  # closed: connection refused
        return

    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"detail": "upstream error"}, status=500)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fail)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("outage", ["500", "refused"])
async def test_a_rescan_during_a_tikhub_outage_sends_nothing_and_lowers_nothing(
    world: World, outage: str
) -> None:
    before = await world.rows()
    for key, value in DELIVERED.items():
        assert _delivered(world)[key] == value
    await world.age_the_cache()
    async with _tikhub_down(outage) as down:
        report = await world.scan(world.config(tikhub_api_url=down))
    # YouTube answered again; the three TikHub videos failed and kept their last stats.
    assert report.videos_fetched == 1
    assert report.videos_failed == 3
    assert (report.videos_stale, report.videos_missing) == (3, 0)
    assert report.rows_changed == 0 and report.deliveries_queued == 0
    assert await world.rows() == before
    assert await world.deliver() == 0
    assert len(world.receiver.requests) == 1
    async with world.db.connection() as tx:
        run = await tx.conn.fetchrow(
            "SELECT videos_stale FROM dailystats_scan_runs WHERE id = $1", report.run_id
        )
    assert run["videos_stale"] == 3


async def test_a_video_later_reported_gone_keeps_its_last_known_stats(world: World) -> None:
    before = await world.rows()
    gone = VideoRef("tt", TT_IDS[0])
    world.providers.videos[gone] = None  # deleted on TikTok since the delivery
    await world.age_the_cache()
    report = await world.scan(world.config())
    assert report.videos_gone == 1
    assert (report.videos_stale, report.videos_missing) == (1, 0)
    assert report.rows_changed == 0 and report.deliveries_queued == 0
    assert await world.rows() == before
    assert await world.deliver() == 0
    async with world.db.connection() as tx:
        cached = await tx.conn.fetchrow(
            "SELECT status, view_count, like_count FROM dailystats_video_stats"
            " WHERE platform = 'tt' AND video_id = $1",
            gone.video_id,
        )
    # Its being gone is recorded; its counts are kept.
    assert (cached["status"], cached["view_count"], cached["like_count"]) == ("gone", 1000, 100)


async def test_a_count_one_call_missed_keeps_its_last_value_and_is_asked_again(
    world: World,
) -> None:
    """Douyin: the play-count call failed, the detail call answered."""
    before = await world.rows()
    partial = FetchResult(FetchStatus.OK, VideoStats(None, None, 50, None, 70))
    await save_fetched(world.db, [(VideoRef("dy", DY_ID), partial)])
    async with world.db.connection() as tx:
        cached = await tx.conn.fetchrow(
            "SELECT view_count, like_count, comment_count, share_count, collect_count, partial"
            " FROM dailystats_video_stats WHERE platform = 'dy' AND video_id = $1",
            DY_ID,
        )
    # Each count from the freshest source that has it.
    assert tuple(cached.values()) == (8000, 320, 50, 28, 70, True)

    # Without asking anyone, the merged counts are used, as last known (not fresh).
    report = await scan_day(world.db, DAY, ScanConfig.defaults(), trigger="test")
    assert report.videos_stale == 1
    rows = await world.rows()
    assert rows[1]["dy_view_count"] == before[1]["dy_view_count"] == 8000
    assert rows[1]["dy_comment_count"] == 50 and rows[1]["dy_collect_count"] == 70

    # The next scan with the providers up asks for that video again, and only it.
    asked = world.providers.asked()
    again = await world.scan(world.config())
    assert again.videos_fetched == 1 and again.videos_stale == 0
    after = world.providers.asked()
    assert {ref for ref in after if after[ref] != asked.get(ref, 0)} == {VideoRef("dy", DY_ID)}
    assert (await world.rows())[1]["dy_comment_count"] == 45
