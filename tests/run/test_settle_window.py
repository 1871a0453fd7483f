"""Issue 14's "Done when", end to end with the real daemon (spec section 7, "Days stay
open until settled"): days Y-3 and Y-4 delivered; then, on both, a completion rejected,
one gaining saved stats, one added late by a user of another node. The next nightly run
(``dailystats run``, its cron job firing in the test, ``SETTLE_DAYS=3``) delivers Y-3's
new payload under a new version, sends nothing for the settled Y-4, and its settle
rescan calls no provider for the videos Y-3 already had, even where yesterday's full
scan fetched newer numbers for one of them. Real parts: the daemon and the CLI as
processes, PostgreSQL, the fake providers and the fake X2C receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from daemon.demo.fake_providers import FakeProviders
from daemon.demo.fake_receiver import WebhookReceiver
from daemon.fetch import VideoStats
from daemon.rules.links import VideoRef
from daemon.store.db import Db
from tests.run.daemon_logs import started
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks

SECRET = "settle-secret"
Y = datetime.now(UTC).date() - timedelta(days=1)  # yesterday in the stats zone (UTC)


def _yt(name: str, k: int) -> str:
    return f"vid{name}{k}" + name.lower() * 6  # 11 characters


def _tt(k: int, n: int) -> str:
    return f"730000000000000{k}{n:03d}"


def videos(k: int) -> dict[str, VideoRef]:
    """Day Y-k's videos: A (to be rejected), B (gains saved stats), C (unchanged), D (late)."""
    return {
        "A": VideoRef("yt", _yt("A", k)),
        "B": VideoRef("yt", _yt("B", k)),
        "C": VideoRef("tt", _tt(k, 1)),
        "D": VideoRef("tt", _tt(k, 2)),
    }


def _link(ref: VideoRef) -> tuple[str, str]:
    if ref.platform == "yt":
        return "YouTube", f"https://www.youtube.com/watch?v={ref.video_id}"
    return "TikTok", f"https://www.tiktok.com/@u/video/{ref.video_id}"


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour))


def _completion(cid: int, user: int, ref: VideoRef, day: date) -> Completion:
    platform, link = _link(ref)
    return Completion(cid, 1, user, "submitted", platform, link, _at(day, 10), None)


async def _until(check: Callable[[], bool], within: float = 60) -> None:
    async def poll() -> None:
        # The receiver tells no one when a request arrives: poll it.
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), within)


def _env(db_url: str, base: str, providers: FakeProviders) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "YOUTUBE_API_URL": f"{base}/youtube/v3",
        "YOUTUBE_API_KEY": providers.youtube_key,
        "TIKHUB_API_URL": base,
        "TIKHUB_API_KEY": providers.tikhub_key,
        "TIKHUB_RATE_PER_SECOND": "0",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "LOG_FORMAT": "json",
    }


async def _cli_scan(env: dict[str, str], day: date) -> dict[str, Any]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEBHOOK_"))}
    full_env.update(env)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "daemon", "scan", "--date", day.isoformat(), "--json"),
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out)
    return report


def _items(rx: WebhookReceiver, day: date) -> list[tuple[str | None, dict[str, Any]]]:
    return [
        (r.delivery_id, item)
        for r in rx.requests
        for item in r.json()["stats"]
        if item["stats_date"] == day.isoformat()
    ]


@pytest.mark.slow
async def test_the_next_nightly_run_settles_y3_and_leaves_y4_alone(db: Db, db_url: str) -> None:
    y3, y4 = Y - timedelta(days=3), Y - timedelta(days=4)
    providers = FakeProviders()
    for k in (3, 4):
        v = videos(k)
        providers.add_video("yt", v["A"].video_id, VideoStats(100, 10, 1))
        providers.add_video("yt", v["B"].video_id, VideoStats(200, 20, 2))
        providers.add_video("tt", v["C"].video_id, VideoStats(1000, 100, 10))
        providers.add_video("tt", v["D"].video_id, VideoStats(50, 5, 1))
    async with providers.start() as base, WebhookReceiver(secret=SECRET) as rx:
        env = _env(db_url, base, providers)
        async with db.connection() as tx:
            await insert_tasks(tx.conn, [1], callback_url=rx.url("/hook"), callback_secret=SECRET)
            rows = []
            for k, day in ((3, y3), (4, y4)):
                v = videos(k)
                rows += [
                    _completion(k * 10 + 1, 1, v["A"], day),
                    _completion(k * 10 + 2, 2, v["B"], day),
                    _completion(k * 10 + 3, 3, v["C"], day),
                ]
            # Yesterday has Y-3's video C too: its full scan will fetch it again.
            rows.append(_completion(99, 5, videos(3)["C"], Y))
            await insert_completions(tx.conn, rows)
            await tx.conn.execute("UPDATE users SET agent_node = 'south'")

        # 1. Y-4 and Y-3 scanned and delivered (scan --date, as an operator would).
        for day in (y4, y3):
            report = await _cli_scan(env, day)
            assert report["delivery"]["delivered"] == 1
        first = {day: _items(rx, day) for day in (y3, y4)}
        assert [item["yt_view_count"] for _, item in first[y3]] == [300]
        assert [item["tt_view_count"] for _, item in first[y3]] == [1000]

        # 2. The bot changes both days: a rejection, saved stats, a late completion by a
        # user of another node. The providers' numbers grow; the cache goes stale.
        async with db.connection() as tx:
            for k, day in ((3, y3), (4, y4)):
                v = videos(k)
                await tx.conn.execute(
                    "UPDATE user_tasks SET status = 'rejected' WHERE id = $1", k * 10 + 1
                )
                await tx.conn.execute(
                    "UPDATE user_tasks SET verification_details ="
                    ' \'{"view_count": 777, "like_count": 7}\' WHERE id = $1',
                    k * 10 + 2,
                )
                await insert_completions(tx.conn, [_completion(k * 10 + 4, 4, v["D"], day)])
            await tx.conn.execute("UPDATE users SET agent_node = 'north' WHERE user_id = 4")
            await tx.conn.execute(
                "UPDATE dailystats_video_stats SET fetched_at = now() - interval '2 days'"
            )
        for ref in providers.videos:
            providers.videos[ref] = VideoStats(5000, 500, 50)
        providers.videos[videos(3)["D"]] = VideoStats(50, 5, 1)
        providers.requests.clear()

        # 3. The next nightly run: the cron job fires within the minute.
        async with started(
            db_url,
            SETTLE_DAYS="3",
            SCAN_CRON="* * * * *",
            WEBHOOK_RETRY_INTERVAL_SECONDS="1",
            **env,
        ) as (proc, _):
            await proc.wait_for("service.ready")
            await proc.wait_for(
                "scan.finished", within=120, stats_date=y3.isoformat(), status="succeeded"
            )
            await _until(lambda: len(_items(rx, y3)) == 2)
            proc.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.process.wait(), 60) == 0

        # Yesterday first (full), then Y-1..Y-3; Y-3's a settle rescan; Y-4 not scanned.
        scans = [
            (e["stats_date"], e["mode"]) for e in proc.events if e.get("event") == "scan.finished"
        ]
        night = scans[:4]
        assert night == [
            (Y.isoformat(), "full"),
            # never scanned before: full, whatever the window asked
            ((Y - timedelta(days=1)).isoformat(), "full"),
            ((Y - timedelta(days=2)).isoformat(), "full"),
            (y3.isoformat(), "settle"),
        ]
        assert y4.isoformat() not in {day for day, _ in scans}

        # Y-3's new payload, under a new version: the rejection, the saved stats and the
        # late video count; video C keeps the numbers Y-3 used, though yesterday's full
        # scan fetched 5000 views for it.
        [(new_id, item)] = _items(rx, y3)[1:]
        assert new_id != first[y3][0][0]
        assert item["account_count"] == 3
        assert (item["yt_account_count"], item["yt_view_count"], item["yt_like_count"]) == (
            1,
            777,
            7,
        )
        assert (item["tt_account_count"], item["tt_view_count"]) == (2, 1000 + 50)
        # Nothing for Y-4: one version of it, sent once, before the night.
        assert len(_items(rx, y4)) == 1
        versions = await db.pool.fetch(
            "SELECT stats_date, status FROM dailystats_deliveries"
            " WHERE stats_date IN ($1, $2) ORDER BY seq",
            y3,
            y4,
        )
        assert [(r["stats_date"], r["status"]) for r in versions] == [
            (y4, "delivered"),
            (y3, "delivered"),
            (y3, "delivered"),
        ]

        # The provider calls of the whole night: yesterday's full scan asked for C (its
        # cache was stale); the settle rescan asked only for the video Y-3 never had.
        asked = providers.asked()
        assert set(asked) == {videos(3)["C"], videos(3)["D"]}, asked
        for name in ("A", "B"):
            assert videos(3)[name] not in asked
