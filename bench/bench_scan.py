"""Time the scan of one day of N completions against a bare GROUP BY over the same rows.

    .venv/bin/python bench/bench_scan.py [--completions 1000000] [--tasks 10000]

The data is generated inside PostgreSQL (generate_series), never row by row from Python.
Prints the bare GROUP BY time, the scan's phases, the ratio, and this process's peak
memory. Uses the local PostgreSQL, else an embedded one; works in a scratch database
that it drops afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.scan.day import ScanConfig, scan_day
from daemon.settings import DEFAULT_COMPLETED_STATUSES
from daemon.store.db import Db, create_pool
from daemon.store.embedded import embedded_server, find_local_server, with_database
from daemon.store.migrations import apply_migrations

DAY = date(2024, 12, 9)

USERS = """
INSERT INTO users (user_id, username)
SELECT u, 'user' || u FROM generate_series(1, $1::int) u
"""
TASKS = """
INSERT INTO drama_tasks (task_id, title, project_id, external_task_id, duration, callback_url)
SELECT t, '短剧推广任务 ' || t, md5(t::text), 100000 + t, 15,
       'https://x2c.example/callback/' || t
FROM generate_series(1, $1::int) t
"""
# About three completions per video, each video within one task; 60% saved stats.
COMPLETIONS = """
INSERT INTO user_tasks (user_id, task_id, status, platform, submission_link, submitted_at,
                        verification_details)
SELECT ((i::bigint * 7919) % $1 + 1)::bigint,
       i % $2 + 1,
       CASE WHEN i % 50 = 0 THEN 'rejected' ELSE 'submitted' END,
       (ARRAY['YouTube', 'tiktok', '抖音', NULL, 'Instagram'])[i % 5 + 1],
       CASE i % 5
         WHEN 0 THEN 'https://www.youtube.com/watch?v=' || substr(md5(v::text), 1, 11)
         WHEN 1 THEN 'https://www.tiktok.com/@user' || v || '/video/' || (7000000000000000000 + v)
         WHEN 2 THEN 'https://www.douyin.com/video/' || (7100000000000000000 + v)
         WHEN 3 THEN 'https://youtu.be/' || substr(md5(v::text), 1, 11) || '?si=share'
         ELSE 'https://www.instagram.com/reel/' || v
       END,
       $3::timestamp + make_interval(secs => (i * 37) % 86400),
       CASE WHEN i % 5 < 3 THEN jsonb_build_object(
              'view_count', (v * 13) % 100000, 'like_count', ((v * 7) % 5000)::text,
              'comment_count', v % 300, 'share_count', v % 50, 'collect_count', v % 70)
       END
FROM generate_series(1, $4::int) i,
     LATERAL (SELECT i % $2 + $2 * (i / ($2 * 3))) AS video(v)
"""


async def _generate(conn: asyncpg.Connection, completions: int, tasks: int) -> None:
    users = max(completions // 10, 1)
    await conn.execute(USERS, users)
    await conn.execute(TASKS, tasks)
    await conn.execute(COMPLETIONS, users, tasks, DAY, completions)
    await conn.execute("ANALYZE")


async def _bare_group_by(conn: asyncpg.Connection) -> float:
    started = time.perf_counter()
    await conn.fetch(
        "SELECT task_id, count(*), count(DISTINCT user_id) FROM user_tasks"
        " WHERE submitted_at >= $1 AND submitted_at < $2 AND status = ANY($3::text[])"
        " GROUP BY task_id",
        DAY,
        DAY + timedelta(days=1),
        list(DEFAULT_COMPLETED_STATUSES),
    )
    return time.perf_counter() - started


async def run(completions: int, tasks: int, admin_url: str) -> dict[str, object]:
    name = f"dailystats_bench_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                resources.files("daemon").joinpath("store/bot_schema.sql").read_text("utf-8")
            )
            await apply_migrations(conn)
            started = time.perf_counter()
            await _generate(conn, completions, tasks)
            generated = time.perf_counter() - started
            bare = [await _bare_group_by(conn) for _ in range(3)]
        finally:
            await conn.close()

        pool = await create_pool(url, min_size=1, max_size=4)
        db = Db(pool)
        config = ScanConfig.defaults()
        try:
            enqueue = _enqueue()
            first = await scan_day(db, DAY, config, trigger="bench", enqueue=enqueue)
            again = await scan_day(db, DAY, config, trigger="bench", enqueue=enqueue)
            # A nightly settle rescan of the unchanged day (spec section 7).
            settle = await scan_day(
                db, DAY, config, trigger="bench", mode="settle", enqueue=enqueue
            )
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    best_bare = min(bare)
    return {
        "completions": completions,
        "tasks": tasks,
        "generate_s": round(generated, 2),
        "bare_group_by_s": round(best_bare, 3),
        "scan_s": first.seconds,
        "ratio": round(first.seconds / best_bare, 2),
        "scan_phases_s": {
            "classify_day": first.classify_seconds,
            "fetch": first.fetch_seconds,
            "aggregate_upsert_outbox": first.write_seconds,
        },
        "rescan_unchanged_s": again.seconds,
        "rescan_unchanged_write_s": again.write_seconds,
        "settle_rescan_s": settle.seconds,
        "settle_rescan_write_s": settle.write_seconds,
        "settle_rows_changed": settle.rows_changed,
        "rows_written": first.rows_changed,
        "deliveries_queued": first.deliveries_queued,
        "rescan_rows_changed": again.rows_changed,
        "rescan_deliveries_queued": again.deliveries_queued,
        "scan_status": first.status,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _enqueue():  # type: ignore[no-untyped-def]
    """The outbox step of the scan, as the daemon runs it (every task has a callback URL)."""
    from daemon.webhook.config import DeliveryConfig
    from daemon.webhook.outbox import enqueue_deliveries

    config = DeliveryConfig(site_name="DramaRelayBot")

    async def enqueue(tx, stats_date):  # type: ignore[no-untyped-def]
        return await enqueue_deliveries(tx, stats_date, config)

    return enqueue


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    admin_url = await find_local_server()
    with contextlib.ExitStack() as stack:
        if admin_url is None:
            admin_url = stack.enter_context(embedded_server())
        result = await run(args.completions, args.tasks, admin_url)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
