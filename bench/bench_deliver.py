"""How close one deliver_due pass comes to the ideal time, and that nothing is sent twice.

    .venv/bin/python bench/bench_deliver.py --deliveries 10000 --latency 0.02

A scratch database on a real PostgreSQL (the local one, else an embedded one) gets
the bot's schema and our migrations, ``--deliveries`` tasks with a day of stats and a
callback URL each; ``enqueue_deliveries`` queues them (timed, then timed again
unchanged: it must queue nothing), and one ``deliver_due`` pass sends them to a real
receiver answering after ``--latency`` seconds. The receiver runs in a child process
(its own loop and CPU), so what is measured is the sender.

Ideal = ceil(deliveries / concurrency) * latency: a perfectly packed concurrency bound.
The scratch database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing as mp
import os
import sys
import time
from datetime import date
from importlib import resources
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.demo.fake_receiver import WebhookReceiver
from daemon.settings import Settings
from daemon.store.db import Db, create_pool
from daemon.store.embedded import embedded_server, find_local_server, with_database
from daemon.store.migrations import apply_migrations
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import enqueue_deliveries
from daemon.webhook.sender import create_session, deliver_due

DAY = date(2024, 12, 9)
SECRET = "bench-秘密"


def _serve(latency: float, conn: Connection) -> None:
    async def main() -> None:
        async with WebhookReceiver(secret=SECRET, latency=latency) as rx:
            conn.send(rx.url("/hook"))
            # Wait for the parent's "stop" without blocking the loop.
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            conn.send(
                {
                    "requests": len(rx.requests),
                    "unique_ids": len({r.delivery_id for r in rx.requests}),
                    "duplicates": len(rx.duplicates()),
                    "bad_signatures": sum(
                        not (r.signature_ok and r.standard_ok) for r in rx.requests
                    ),
                }
            )

    asyncio.run(main())


async def _seed(db: Db, count: int, url: str) -> None:
    await db.pool.execute(
        """INSERT INTO drama_tasks (project_id, external_task_id, title, duration,
                                    callback_url, callback_secret)
           SELECT gen_random_uuid()::text, 100000 + g, '短剧任务 #' || g, 15 + g % 30, $1, $2
           FROM generate_series(1, $3) AS g""",
        url,
        SECRET,
        count,
    )
    await db.pool.execute(
        """INSERT INTO task_daily_stats (task_id, project_id, external_task_id, stats_date,
               total_account_count, total_completion_count,
               yt_account_count, yt_view_count, yt_like_count,
               tt_account_count, tt_view_count,
               dy_account_count, dy_view_count, dy_share_count, dy_collect_count)
           SELECT task_id, project_id, external_task_id, $1,
                  6, 7, 2, task_id * 10, task_id, 2, task_id * 7, 2, task_id * 3, 1, task_id % 5
           FROM drama_tasks""",
        DAY,
    )


async def run(args: argparse.Namespace, admin_url: str, receiver_url: str) -> dict[str, Any]:
    name = f"dailystats_bench_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            schema = resources.files("daemon").joinpath("store/bot_schema.sql")
            await conn.execute(schema.read_text(encoding="utf-8"))
            await apply_migrations(conn)
        finally:
            await conn.close()

        pool = await create_pool(url, min_size=2, max_size=min(args.concurrency + 2, 40))
        try:
            db = Db(pool)
            await _seed(db, args.deliveries, receiver_url)
            cfg = DeliveryConfig(
                allow_private=True,  # the receiver is on 127.0.0.1
                concurrency=args.concurrency,
                timeout_seconds=15.0,
            )
            started = time.perf_counter()
            async with db.transaction() as tx:
                queued = await enqueue_deliveries(tx, DAY, cfg)
            enqueue_s = time.perf_counter() - started
            started = time.perf_counter()
            async with db.transaction() as tx:
                requeued = await enqueue_deliveries(tx, DAY, cfg)
            reenqueue_s = time.perf_counter() - started

            async with create_session(cfg) as session:
                started = time.perf_counter()
                report = await deliver_due(db, session, cfg)
                elapsed = time.perf_counter() - started
            delivered_in_db = await pool.fetchval(
                "SELECT count(*) FROM dailystats_deliveries WHERE status = 'delivered'"
            )
            rows_sent = await pool.fetchval(
                "SELECT count(*) FROM task_daily_stats WHERE webhook_sent"
            )
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    ideal = math.ceil(args.deliveries / args.concurrency) * args.latency
    return {
        "deliveries": args.deliveries,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "enqueue_s": round(enqueue_s, 3),
        "queued": queued,
        "reenqueue_unchanged_s": round(reenqueue_s, 3),
        "requeued": requeued,
        "elapsed_s": round(elapsed, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(elapsed / ideal, 3) if ideal else None,
        "throughput_per_s": round(report.attempted / elapsed, 1) if elapsed else None,
        "report": report.as_dict(),
        "delivered_in_db": delivered_in_db,
        "stats_rows_webhook_sent": rows_sent,
    }


def main() -> int:
    default_concurrency = Settings.model_fields["webhook_concurrency"].default
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=default_concurrency)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    # 10,000 "delivery.sent" lines would measure the terminal, not the sender.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=_serve, args=(args.latency, child))
    server.start()
    try:
        receiver_url = parent.recv()
        admin_url = asyncio.run(find_local_server())
        if admin_url is not None:
            result = asyncio.run(run(args, admin_url, receiver_url))
        else:
            with embedded_server() as embedded:
                result = asyncio.run(run(args, embedded, receiver_url))
        parent.send("stop")
        result["receiver"] = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()

    if args.json:
        print(json.dumps(result))
    else:
        rx = result["receiver"]
        print(
            f"enqueue: {result['queued']} queued in {result['enqueue_s']} s; "
            f"unchanged re-enqueue: {result['requeued']} queued in "
            f"{result['reenqueue_unchanged_s']} s"
        )
        print(
            f"deliver_due: {result['deliveries']} deliveries, concurrency "
            f"{result['concurrency']}, latency {result['latency_s']} s"
        )
        print(
            f"elapsed {result['elapsed_s']} s, ideal {result['ideal_s']} s, "
            f"ratio {result['ratio']}, {result['throughput_per_s']}/s"
        )
        print(
            f"delivered {result['report']['delivered']} (in db {result['delivered_in_db']}, "
            f"rows webhook_sent {result['stats_rows_webhook_sent']}), "
            f"failed {result['report']['failed']}"
        )
        print(
            f"receiver: {rx['requests']} requests, {rx['unique_ids']} distinct ids, "
            f"duplicates {rx['duplicates']}, bad signatures {rx['bad_signatures']}"
        )
    ok = (
        result["receiver"]["duplicates"] == 0
        and result["delivered_in_db"] == args.deliveries
        and result["receiver"]["bad_signatures"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
