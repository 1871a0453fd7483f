"""Rescans and delivery passes racing on the same days (issue 8: one lock order for the
scan and the sender). Bounded by rounds and by time; no sleeps stand in for ordering.

The scan's transaction locks task_daily_stats rows, then dailystats_deliveries rows;
recording an attempt must take them in the same order, or the two deadlock.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from datetime import date

import asyncpg
from structlog.testing import capture_logs

from daemon.demo.fake_receiver import Reply, WebhookReceiver
from daemon.run.pipeline import outbox_writer
from daemon.scan.day import ScanConfig, ScanReport, scan_day
from daemon.store.db import Db, create_pool
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.sender import DeliverReport, create_session, deliver_due
from tests.webhook.webhook_world import add_task_with_completion

DAYS = (date(2026, 11, 27), date(2026, 11, 28))
TASKS = 300
SECONDS = 8.0
ROUNDS = 40
CFG = DeliveryConfig(
    allow_private=True, timeout_seconds=5.0, concurrency=16, max_attempts=50, lease_seconds=60
)


async def _add_completions(db: Db, tasks: list[int], day: date, first_user: int) -> None:
    """One new completion (a new account) for each of ``tasks`` on ``day``."""
    users = list(range(first_user, first_user + len(tasks)))
    await db.pool.execute("INSERT INTO users (user_id) SELECT unnest($1::bigint[])", users)
    await db.pool.execute(
        """INSERT INTO user_tasks (user_id, task_id, status, platform, submission_link,
                                   submitted_at)
           SELECT u, t, 'submitted', 'YouTube', 'https://youtu.be/dQw4w9WgXcQ',
                  $3::date + time '12:00'
           FROM unnest($1::bigint[], $2::int[]) AS x(u, t)""",
        users,
        tasks,
        day,
    )


async def _rescans(db: Db, tasks: list[int], reports: list[ScanReport], until: float) -> None:
    """Each round: new completions for most tasks (their payloads change), then a rescan."""
    rng = random.Random(7)
    user = 100_000
    for round_no in range(ROUNDS):
        if time.monotonic() > until:
            return
        day = DAYS[round_no % len(DAYS)]
        changed = rng.sample(tasks, len(tasks) * 3 // 4)
        await _add_completions(db, changed, day, user)
        user += len(changed)
        reports.append(
            await scan_day(
                db, day, ScanConfig.defaults(), trigger="race", enqueue=outbox_writer(CFG)
            )
        )


async def _sender(db: Db, reports: list[DeliverReport], done: asyncio.Event) -> None:
    async with create_session(CFG) as session:
        while not done.is_set():
            reports.append(await deliver_due(db, session, CFG, force=True))


async def test_rescans_and_senders_race_without_deadlock(db: Db, db_url: str) -> None:
    async with WebhookReceiver(latency=0.01) as rx:
        # some failures, so pending versions are retried while newer ones arrive
        rx.script(*(Reply(500) if i % 7 == 0 else Reply(200) for i in range(2000)))
        tasks = [
            await add_task_with_completion(db, rx.url(f"/t{i}"), DAYS[0], user_id=i + 1)
            for i in range(TASKS)
        ]
        await _add_completions(db, tasks, DAYS[1], 50_000)
        pools = [await create_pool(db_url, min_size=1, max_size=4) for _ in range(3)]
        scans: list[ScanReport] = []
        passes: list[DeliverReport] = []
        done = asyncio.Event()
        try:
            with capture_logs() as logs:
                senders = [
                    asyncio.create_task(_sender(Db(pool), passes, done)) for pool in pools[1:]
                ]
                try:
                    await _rescans(Db(pools[0]), tasks, scans, time.monotonic() + SECONDS)
                finally:
                    done.set()
                    await asyncio.gather(*senders)
                # drain what the race left pending
                async with create_session(CFG) as session:
                    for _ in range(20):
                        if not (await deliver_due(db, session, CFG, force=True)).attempted:
                            break
        finally:
            for pool in pools:
                await pool.close()

        deadlocks = [r for r in scans if r.error and "Deadlock" in r.error]
        record_failed = [e for e in logs if e["event"] == "delivery.record_failed"]
        assert deadlocks == [] and record_failed == []
        assert all(r.status == "succeeded" for r in scans)
        assert len(scans) >= 4 and sum(p.attempted for p in passes) > 0

        rows = await db.pool.fetch(
            "SELECT id, task_id, stats_date, seq, status, body FROM dailystats_deliveries"
        )
        by_id = {str(r["id"]): r for r in rows}
        # every delivery answered 2xx once at most; every latest version landed
        assert rx.duplicates() == {}
        landed = rx.delivered_counts()
        latest: dict[tuple[int, date], asyncpg.Record] = {}
        for r in rows:
            key = (r["task_id"], r["stats_date"])
            if key not in latest or r["seq"] > latest[key]["seq"]:
                latest[key] = r
        assert {r["status"] for r in latest.values()} == {"delivered"}
        assert all(landed[str(r["id"])] == 1 for r in latest.values())
        assert not [r for r in rows if r["status"] == "delivered" and landed[str(r["id"])] != 1]
        # no older version of a task and day arrived after a newer one
        seen: dict[tuple[int, date], list[int]] = defaultdict(list)
        for request in rx.requests:
            r = by_id[request.delivery_id or ""]
            seen[(r["task_id"], r["stats_date"])].append(r["seq"])
        assert {k: s for k, s in seen.items() if s != sorted(s)} == {}
        # and what the receiver holds last is the latest numbers
        last_body = {}
        for request in rx.requests:
            if 200 <= request.status < 300:
                r = by_id[request.delivery_id or ""]
                last_body[(r["task_id"], r["stats_date"])] = request.body
        assert last_body == {k: r["body"].encode() for k, r in latest.items()}
