"""``dailystats demo``: the whole pipeline, end to end, on nothing but this machine.

A scratch database (the local PostgreSQL, else an embedded one) gets the bot's schema,
the migrations and a day of sample completions; fake YouTube and TikHub servers answer
the fetches; a fake X2C receiver checks every signature. The demo scans yesterday,
delivers, scans again to show nothing is sent twice, prints what happened, and drops
its database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any

import aiohttp
import asyncpg

from daemon.demo.fake_providers import FakeProviders
from daemon.demo.fake_receiver import WebhookReceiver
from daemon.demo.render import describe
from daemon.fetch import FetchCounters, VideoStats
from daemon.fetch.stops import DbProviderGate
from daemon.run.logs import configure_logging
from daemon.run.pipeline import outbox_writer
from daemon.scan.day import LiveFetch, ScanConfig, ScanReport, scan_day
from daemon.settle.explain import explain_day
from daemon.store.db import Db, create_pool
from daemon.store.embedded import embedded_server, find_local_server, with_database
from daemon.store.migrations import apply_migrations
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.sender import DeliverReport, create_session, deliver_due

SECRET = "demo-secret-密钥"
YT = ("dQw4w9WgXcQ", "9bZkp7q19f0", "kJQP7kiw5Fk")
TT = ("7312345678901234567", "7312345678901234568")
DY = ("7400000000000000001", "7400000000000000002")
SHORT_TT = "https://vm.tiktok.com/ZMdemo01/"


def run_demo(json_output: bool = False) -> int:
    configure_logging("console" if sys.stderr.isatty() else "json", "WARNING")
    try:
        result = asyncio.run(_demo())
    except Exception as exc:  # the demo must end with a reason, not a traceback
        print(f"dailystats demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if json_output:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    else:
        print(describe(result))
    return 0 if result["ok"] else 1


async def _demo() -> dict[str, Any]:
    admin_url = await find_local_server()
    with contextlib.ExitStack() as stack:
        if admin_url is None:
            print("no local PostgreSQL: starting an embedded one...", file=sys.stderr)
            admin_url = stack.enter_context(embedded_server())
        name = f"dailystats_demo_{os.getpid()}"
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            return await _run_on(with_database(admin_url, name))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    raise AssertionError("unreachable")


async def _run_on(url: str) -> dict[str, Any]:
    day = datetime.now(UTC).date() - timedelta(days=1)
    providers = _sample_videos()
    async with providers.start() as api, WebhookReceiver(secret=SECRET) as x2c:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                resources.files("daemon").joinpath("store/bot_schema.sql").read_text()
            )
            migrations = await apply_migrations(conn)
            await _sample_data(conn, day, x2c.url("/x2c/callback"))
        finally:
            await conn.close()

        pool = await create_pool(url, max_size=4)
        db = Db(pool)
        scan_config = ScanConfig.defaults()
        # The receiver listens on 127.0.0.1, which callbacks may only reach when allowed.
        delivery = DeliveryConfig(allow_private=True, timeout_seconds=5)
        try:
            first, sent = await _scan_and_send(db, providers, api, day, scan_config, delivery)
            sources = await _videos_by_source(db, scan_config, day)
            again, resent = await _scan_and_send(db, providers, api, day, scan_config, delivery)
            rows = [
                dict(r)
                for r in await db.pool.fetch(
                    "SELECT * FROM task_daily_stats WHERE stats_date = $1 ORDER BY task_id", day
                )
            ]
            tasks = {
                r["task_id"]: {
                    "x2c_task_id": r["external_task_id"],
                    "callback_url": r["callback_url"] is not None,
                }
                for r in await db.pool.fetch(
                    "SELECT task_id, external_task_id, callback_url FROM drama_tasks"
                )
            }
            nodes = [
                dict(r)
                for r in await db.pool.fetch(
                    "SELECT * FROM dailystats_node_stats WHERE stats_date = $1"
                    " ORDER BY task_id, agent_node = '', agent_node",
                    day,
                )
            ]
        finally:
            await pool.close()
        webhooks = [
            {
                "path": r.path,
                "delivery_id": r.delivery_id,
                "signature_ok": r.signature_ok,
                "standard_webhooks_ok": r.standard_ok,
                "body": r.json(),
            }
            for r in x2c.requests
        ]
    ok = (
        first.status == again.status == "succeeded"
        and sent.delivered == len(webhooks) > 0
        and all(w["signature_ok"] and w["standard_webhooks_ok"] for w in webhooks)
        and again.deliveries_queued == 0
        and resent.attempted == 0
    )
    return {
        "ok": ok,
        "stats_date": day.isoformat(),
        "migrations": migrations,
        "first_scan": first.as_dict(),
        "first_scan_videos_by_source": sources,
        "first_delivery": sent.as_dict(),
        "second_scan": again.as_dict(),
        "second_delivery": resent.as_dict(),
        "api_calls": {"youtube": len(providers.requests_to("youtube")), **providers.tikhub_calls()},
        "task_daily_stats": rows,
        "tasks": tasks,
        "node_stats": nodes,
        "webhooks": webhooks,
    }


async def _videos_by_source(db: Db, config: ScanConfig, day: date) -> dict[str, int]:
    """The scan's videos (one per task and video, as its video count) by the source of
    their counts, told by explain: the demo's screen adds up."""
    by_source: Counter[str] = Counter()
    for task_id in await db.pool.fetch("SELECT task_id FROM drama_tasks ORDER BY task_id"):
        explained = await explain_day(db, config, day, task_id=task_id["task_id"])
        by_source.update(v.source for v in explained.videos)
    return dict(sorted(by_source.items()))


async def _scan_and_send(
    db: Db,
    providers: FakeProviders,
    api: str,
    day: date,
    scan_config: ScanConfig,
    delivery: DeliveryConfig,
) -> tuple[ScanReport, DeliverReport]:
    async with aiohttp.ClientSession() as session:
        # The database gate, as in production: TikHub spend lands in the day's ledger.
        gate = DbProviderGate(db, scan_config.zone, tikhub_key=providers.tikhub_key)
        live = LiveFetch(session, providers.config(api), FetchCounters(), gate)
        report = await scan_day(
            db, day, scan_config, trigger="demo", live=live, enqueue=outbox_writer(delivery)
        )
    async with create_session(delivery) as http:
        sent = await deliver_due(db, http, delivery)
    return report, sent


def _sample_videos() -> FakeProviders:
    providers = FakeProviders()
    providers.add_video("yt", YT[0], VideoStats(views=15230, likes=880, comments=41))
    providers.add_video("yt", YT[1], VideoStats(views=2210, likes=None, comments=7))  # hidden likes
    providers.add_video("tt", TT[0], VideoStats(9100, 730, 52, 31, 18))
    providers.add_video("tt", TT[1], VideoStats(420, 33, 4, 1, 0))
    providers.add_video("dy", DY[0], VideoStats(8000, 320, 45, 28, 62))
    # YT[2] is unknown to the fake: a deleted video.
    providers.add_short_link(SHORT_TT, f"https://www.tiktok.com/@demo/video/{TT[1]}")
    return providers


async def _sample_data(conn: asyncpg.Connection, day: date, callback: str) -> None:
    await conn.execute(
        "INSERT INTO drama_tasks (task_id, project_id, external_task_id, title, duration, status,"
        " callback_url, callback_secret) VALUES"
        " (1, '550e8400-e29b-41d4-a716-446655440000', 42, '霸道总裁爱上我 第1集', 30,"
        "  'active', $1, $2),"
        " (2, '550e8400-e29b-41d4-a716-446655440001', 43, '重生之我是短剧之王', 15,"
        "  'expired', $1, $2),"
        " (3, NULL, NULL, 'No callback: saved, not sent', 15, 'active', NULL, NULL)",
        callback,
        SECRET,
    )
    await conn.execute(
        # Agent nodes for the split (spec section 9): two nodes, one spelled loosely, and
        # users without one (NULL or blank: unassigned).
        "INSERT INTO users (user_id, username, agent_node)"
        " SELECT u, 'demo' || u, (ARRAY['north', 'south', ' north ', NULL, '  '])[u % 5 + 1]"
        " FROM generate_series(1, 12) u"
    )
    start = datetime.combine(day, time(0))
    rows: list[tuple[Any, ...]] = [
        # user, task, status, platform, link, minutes into the day, saved details
        (1, 1, "submitted", "YouTube", f"https://www.youtube.com/watch?v={YT[0]}", 30, None),
        (2, 1, "approved", "yt", f"https://youtu.be/{YT[0]}?si=x", 95, None),  # same video
        (3, 1, "verified", "YouTube", f"https://www.youtube.com/shorts/{YT[1]}", 400, None),
        (4, 1, "completed", "YouTube", f"https://m.youtube.com/watch?v={YT[2]}", 500, None),
        (5, 1, "submitted", "TikTok", f"https://www.tiktok.com/@u5/video/{TT[0]}", 610, None),
        (6, 1, "submitted", "抖音", f"https://www.douyin.com/video/{DY[0]}", 700, None),
        (7, 1, "submitted", "Instagram", "https://www.instagram.com/reel/abc/", 800, None),
        (8, 1, "rejected", "YouTube", f"https://youtu.be/{YT[0]}", 900, None),  # not counted
        (9, 2, "submitted", "tt", SHORT_TT, 60, None),
        (
            10,
            2,
            "submitted",
            "douyin",
            f"https://www.douyin.com/video/{DY[1]}",
            120,
            json.dumps({"view_count": "5100", "like_count": 260, "share_count": 12}),
        ),
        (11, 2, "verified", "dy", "not a link", 180, json.dumps({"view_count": -3})),
        (12, 3, "submitted", None, f"https://www.tiktok.com/@u12/video/{TT[0]}", 1400, None),
        (12, 3, "submitted", "YouTube", f"https://www.youtube.com/watch?v={YT[0]}", 1430, None),
    ]
    await conn.executemany(
        "INSERT INTO user_tasks (user_id, task_id, status, platform, submission_link,"
        " submitted_at, verification_details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
        [(u, t, s, p, link, start + timedelta(minutes=m), d) for u, t, s, p, link, m, d in rows],
    )
