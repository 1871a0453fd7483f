"""The lifecycle's queries on a real PostgreSQL: the look-back, the bounded day lock,
retention, metrics read back from the database, and /healthz failing with a worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import aiohttp
import asyncpg
import pytest

from daemon.run import metrics
from daemon.run.dbmetrics import DbGauges
from daemon.run.health import start_health_server
from daemon.run.liveness import Workers
from daemon.run.lookback import OwedDay, owed_days
from daemon.run.retention import prune
from daemon.scan.daylock import DayLockTimeout, lock_day
from daemon.settings import load_settings
from daemon.store.db import Db, create_pool
from daemon.store.queries import QUERIES
from tests.run.daemon_logs import free_port

LAST = date(2026, 3, 10)


async def _run(db: Db, day: date, status: str, incomplete: list[str] | None = None) -> int:
    async with db.connection() as tx:
        return int(
            await tx.conn.fetchval(
                "INSERT INTO dailystats_scan_runs (stats_date, trigger, status,"
                " incomplete_providers, finished_at) VALUES ($1, 'test', $2, $3, now())"
                " RETURNING id",
                day,
                status,
                incomplete,
            )
        )


async def _stop(db: Db, provider: str, until: timedelta | None) -> None:
    async with db.connection() as tx:
        await tx.conn.execute(
            "INSERT INTO dailystats_provider_stops (provider, reason, until)"
            " VALUES ($1, 'test', now() + $2::interval)",
            provider,
            until,
        )


def _day(n: int) -> date:
    return LAST - timedelta(days=n)


# ---------------------------------------------------------------- look-back


async def test_lookback_finds_missed_days_and_incomplete_ones_whose_stops_cleared(
    db: Db,
) -> None:
    await _run(db, _day(0), "failed")  # only failed: missed
    await _run(db, _day(1), "succeeded")  # done
    await _run(db, _day(2), "succeeded", ["youtube"])  # youtube stop ended: owed
    await _run(db, _day(3), "succeeded", ["tikhub"])  # tikhub stopped until later: not yet
    await _run(db, _day(4), "succeeded", ["youtube", "tikhub"])  # one still stopped: not yet
    await _run(db, _day(5), "succeeded", [])  # empty: complete
    # day 6: incomplete once, then a later complete scan: the latest counts
    await _run(db, _day(6), "succeeded", ["youtube"])
    await _run(db, _day(6), "succeeded", None)
    # day 7: complete once, then a later incomplete one whose stop has no end
    await _run(db, _day(7), "succeeded")
    await _run(db, _day(7), "succeeded", ["tikhub"])
    # day 8: a failed rescan after a success does not make it missed
    await _run(db, _day(8), "succeeded")
    await _run(db, _day(8), "failed")
    # day 9: no run at all; day 10 is outside the window
    await _stop(db, "youtube", timedelta(hours=-1))  # expired an hour ago
    await _stop(db, "tikhub", None)  # until an operator fixes it

    owed = await owed_days(db, LAST, catchup_days=10)
    assert owed == [
        OwedDay(_day(9), "missed"),
        OwedDay(_day(2), "incomplete"),
        OwedDay(_day(0), "missed"),
    ]

    # The tikhub stop lifted: days 3, 4 and 7 are owed too.
    async with db.connection() as tx:
        await tx.conn.execute("DELETE FROM dailystats_provider_stops WHERE provider = 'tikhub'")
    owed_now = {o.stats_date for o in await owed_days(db, LAST, catchup_days=10)}
    assert owed_now == {_day(n) for n in (0, 2, 3, 4, 7, 9)}


@pytest.mark.parametrize(
    ("catchup", "owed"), [(0, []), (1, []), (2, [_day(1)]), (3, [_day(2), _day(1)])]
)
async def test_lookback_window_bounds_what_is_owed(db: Db, catchup: int, owed: list[date]) -> None:
    await _run(db, LAST, "succeeded")
    assert [o.stats_date for o in await owed_days(db, LAST, catchup)] == owed


# ---------------------------------------------------------------- the day lock


async def test_day_lock_wait_is_bounded_and_succeeds_once_the_holder_lets_go(
    db: Db, db_url: str
) -> None:
    holder = await asyncpg.connect(db_url)
    try:
        await holder.execute(QUERIES["lock_day"], LAST)
        async with db.connection() as conn:
            with pytest.raises(DayLockTimeout, match="another process"):
                await lock_day(conn, LAST, max_wait=0.3)
            # Other days are not held up.
            await lock_day(conn, _day(1), max_wait=0.3)
            # Its tries stay bounded under a pool statement timeout shorter than a try.
            await conn.execute("unlock_day", _day(1))
            await conn.conn.execute("SET statement_timeout = 100")
            with pytest.raises(DayLockTimeout):
                await lock_day(conn, LAST, max_wait=0.5)
            await conn.conn.execute("RESET statement_timeout")
            await lock_day(conn, _day(1), max_wait=0.3)
            await conn.execute("unlock_day", _day(1))

            waiting = asyncio.create_task(lock_day(conn, LAST, max_wait=60))
            # A waiting try shows in pg_locks; let go once it does.
            while not await holder.fetchval(  # noqa: ASYNC110
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                await asyncio.sleep(0.02)
            await holder.execute(QUERIES["unlock_day"], LAST)
            await asyncio.wait_for(waiting, 30)
            # The session lock outlived the try's transaction.
            assert await conn.fetchval("unlock_day", LAST) is True
    finally:
        await holder.close()


async def test_pool_timeouts_bound_statements_and_lock_waits(db_url: str) -> None:
    pool = await create_pool(db_url, statement_timeout=0.5, lock_timeout=0.1)
    holder = await asyncpg.connect(db_url)
    try:
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.execute("SELECT pg_sleep(5)")
        await holder.execute(QUERIES["lock_day"], LAST)
        with pytest.raises(asyncpg.LockNotAvailableError):
            await pool.execute(QUERIES["lock_day"], LAST)
    finally:
        await holder.close()
        await pool.close()


# ---------------------------------------------------------------- retention


async def _delivery(
    tx_conn: asyncpg.Connection, task: int, day: date, status: str, age: int
) -> str:
    return str(
        await tx_conn.fetchval(
            "INSERT INTO dailystats_deliveries (task_id, stats_date, url, body, status,"
            " created_at, updated_at) VALUES ($1, $2, 'http://x/', '{}', $3,"
            " now() - make_interval(days => $4), now() - make_interval(days => $4))"
            " RETURNING id",
            task,
            day,
            status,
            age,
        )
    )


async def test_retention_prunes_old_rows_and_keeps_what_replay_and_status_need(
    db: Db,
) -> None:
    old, new = 500, 10
    async with db.connection() as tx:
        c = tx.conn
        # scan runs: two old runs of one day (the older goes), one old run of another
        # day (its latest: kept), a recent one
        first = await _run(db, _day(400), "failed")
        latest = await _run(db, _day(400), "succeeded")
        lone = await _run(db, _day(401), "succeeded")
        recent = await _run(db, _day(1), "succeeded")
        await c.execute(
            "UPDATE dailystats_scan_runs SET started_at = now() - make_interval(days => $2)"
            " WHERE id = ANY($1::bigint[])",
            [first, latest, lone],
            old,
        )
        await c.execute(
            "INSERT INTO dailystats_video_stats (platform, video_id, status, fetched_at)"
            " SELECT 'yt', 'v' || n, 'ok', now() - make_interval(days => $1)"
            " FROM generate_series(1, 25) n",
            old,
        )
        await c.execute(
            "INSERT INTO dailystats_video_stats (platform, video_id, status) VALUES"
            " ('yt', 'fresh', 'ok')"
        )
        await c.execute(
            "INSERT INTO dailystats_short_links (link, platform, video_id, resolved_at)"
            " VALUES ('https://youtu.be/old', 'yt', 'x', now() - interval '500 days'),"
            " ('https://youtu.be/new', 'yt', 'y', now())"
        )
        day = _day(450)
        gone = [
            await _delivery(c, 1, day, "superseded", old),
            await _delivery(c, 1, day, "delivered", old),
        ]
        kept = [
            await _delivery(c, 1, day, "delivered", old),  # the latest of task 1: kept
            await _delivery(c, 2, day, "dead", old),  # replay needs it
            await _delivery(c, 2, day, "delivered", old),  # latest of task 2
            await _delivery(c, 3, day, "superseded", new),  # recent
            await _delivery(c, 3, day, "pending", new),
            await _delivery(c, 4, day, "pending", old),  # never sent yet
            # the last delivered version of task 5 (resend needs it) and its newer dead one
            await _delivery(c, 5, day, "delivered", old),
            await _delivery(c, 5, day, "dead", old),
        ]
        await c.execute(
            "INSERT INTO dailystats_day_video_stats (stats_date, platform, video_key, source)"
            " VALUES ($1, 'yt', 'old', 'missing'), ($2, 'yt', 'kept', 'missing')",
            _day(old),
            _day(new),
        )

    pruned = await prune(db, 400, batch=10)
    assert pruned == {
        "scan_runs": 1,
        "video_stats": 25,
        "short_links": 1,
        "deliveries": 2,
        "day_video_stats": 1,
    }

    async with db.connection() as tx:
        c = tx.conn
        runs = {r["id"] for r in await c.fetch("SELECT id FROM dailystats_scan_runs")}
        assert runs == {latest, lone, recent}
        assert await c.fetchval("SELECT count(*) FROM dailystats_video_stats") == 1
        assert await c.fetchval("SELECT link FROM dailystats_short_links") == (
            "https://youtu.be/new"
        )
        left = {str(r["id"]) for r in await c.fetch("SELECT id FROM dailystats_deliveries")}
        assert left == set(kept) and not left & set(gone)
        assert await c.fetchval("SELECT video_key FROM dailystats_day_video_stats") == "kept"

    # Nothing more to do the second time; 0 days keeps everything.
    assert set((await prune(db, 400, batch=10)).values()) == {0}
    assert set((await prune(db, 0)).values()) == {0}


# ---------------------------------------------------------------- metrics and health


async def test_metrics_read_back_from_the_database(db: Db) -> None:
    run = await _run(db, _day(3), "succeeded")
    async with db.connection() as tx:
        finished = await tx.conn.fetchval(
            "SELECT finished_at FROM dailystats_scan_runs WHERE id = $1", run
        )
        await _delivery(tx.conn, 1, _day(3), "pending", 0)
        await _delivery(tx.conn, 2, _day(3), "dead", 0)
        await _delivery(tx.conn, 3, _day(3), "dead", 0)
    await DbGauges(load_settings(database_url="postgresql://unused")).refresh(db)
    sample = metrics.REGISTRY.get_sample_value
    assert sample("dailystats_last_scan_success_timestamp_seconds") == pytest.approx(
        finished.timestamp()
    )
    assert sample("dailystats_deliveries_pending") == 1
    assert sample("dailystats_deliveries_dead") == 2


@pytest.fixture
async def dead_worker() -> AsyncIterator[Workers]:
    workers = Workers()
    workers.start("scan", asyncio.sleep(0))
    workers.start("retry", asyncio.Event().wait())
    await asyncio.wait_for(asyncio.shield(workers.tasks["scan"]), 10)
    yield workers
    workers.tasks["retry"].cancel()


async def test_healthz_fails_when_a_worker_stopped(db: Db, dead_worker: Workers) -> None:
    port = free_port()
    alive = {"yes": True}

    def problem() -> str | None:
        return None if alive["yes"] else dead_worker.problem()

    runner = await start_health_server(db, port, host="127.0.0.1", problem=problem)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/healthz"
            async with http.get(url) as response:
                assert response.status == 200
            alive["yes"] = False
            async with http.get(url) as response:
                assert response.status == 503
                assert await response.json() == {"ok": False, "daemon": "worker scan stopped"}
    finally:
        await runner.cleanup()
