"""The daemon's lifecycle as a process: systemd's notify protocol on a real socket, a
cron-fired scan under ``python -X dev``, and a database taken away mid-scan."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from apscheduler.triggers.cron import CronTrigger

from daemon.demo.fake_receiver import WebhookReceiver
from daemon.run.scheduler import NIGHTLY_JOB, nightly_scheduler
from daemon.store.queries import QUERIES
from tests.run.daemon_logs import Daemon, started
from tests.run.locks import until_someone_waits_for_a_lock
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks

SECRET = "lifecycle-secret"


async def _stop(proc: Daemon) -> None:
    proc.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.process.wait(), 30) == 0
    await proc.reader
    assert proc.count("service.stopped") == 1


async def _until(check: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    async def poll() -> None:
        # The database tells no one when a row changes: poll it.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), within)


# ---------------------------------------------------------------- Type=notify


async def test_notify_socket_gets_ready_watchdog_pings_and_stopping(db_url: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"dailystats-test-{uuid.uuid4().hex}"
    listener.bind(b"\0" + name.encode())  # systemd's abstract form: '@name'
    listener.setblocking(False)
    loop = asyncio.get_running_loop()

    async def receive() -> str:
        return (await asyncio.wait_for(loop.sock_recv(listener, 4096), 30)).decode()

    with listener:
        async with started(db_url, NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="200000") as (
            proc,
            port,
        ):
            assert await receive() == "READY=1"
            # Health answers once READY was sent.
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                assert response.status == 200
            for _ in range(3):
                assert await receive() == "WATCHDOG=1"
            await proc.wait_for("service.ready")
            proc.process.send_signal(signal.SIGTERM)
            while (state := await receive()) == "WATCHDOG=1":
                pass
            assert state == "STOPPING=1"
            assert await asyncio.wait_for(proc.process.wait(), 30) == 0
            await proc.reader
    assert proc.count("service.watchdog_withheld") == 0


# ---------------------------------------------------------------- -X dev, cron


async def test_the_nightly_job_runs_as_a_coroutine_on_the_loop_when_its_trigger_fires() -> None:
    # The daemon's scheduler with a seconds-level trigger injected (cron's resolution is
    # the minute): it fires within a second or two, under asyncio's debug checks, which
    # fail a job that touches the loop from a worker thread.
    loop = asyncio.get_running_loop()
    was_debug = loop.get_debug()
    loop.set_debug(True)
    ran: list[tuple[int, bool]] = []
    fired = asyncio.Event()

    async def job() -> None:
        ran.append((threading.get_ident(), asyncio.get_running_loop() is loop))
        fired.set()

    zone = ZoneInfo("UTC")
    scheduler = nightly_scheduler(
        zone, "0 2 * * *", job, trigger=CronTrigger(second="*", timezone=zone)
    )
    scheduler.start()
    try:
        await asyncio.wait_for(fired.wait(), 10)
        assert scheduler.get_job(NIGHTLY_JOB).name == "nightly scan of yesterday (0 2 * * *)"
    finally:
        scheduler.shutdown(wait=False)
        loop.set_debug(was_debug)
    assert ran[0] == (threading.get_ident(), True)


@pytest.mark.slow
async def test_the_nightly_cron_fires_on_the_real_clock_in_a_dev_mode_process(db_url: str) -> None:
    # The one real-clock test: every minute, so the first run comes within 60 s. -X dev
    # turns on asyncio's debug checks, which fail a job that touches the loop from a
    # worker thread.
    async with started(db_url, "-X", "dev", SCAN_CRON="* * * * *") as (proc, _):
        await proc.wait_for("service.ready")
        await proc.wait_for("scan.finished", within=75, trigger="cron", status="succeeded")
        assert proc.count("service.rescan_requested", trigger="cron") >= 1
        await _stop(proc)
    # The old lambda job set an asyncio.Event from APScheduler's thread pool.
    assert not any("Non-thread-safe" in str(e) for e in proc.events)
    assert proc.count("service.scan_crashed") == 0


# ---------------------------------------------------------------- the database away


async def test_database_taken_away_mid_scan_then_the_day_is_scanned_and_delivered(
    db_url: str, pg_admin_url: str
) -> None:
    database = urlsplit(db_url).path.lstrip("/")
    day = datetime.now(UTC).date() - timedelta(days=1)
    async with WebhookReceiver(secret=SECRET) as rx:
        holder = await asyncpg.connect(db_url)
        await insert_tasks(holder, [1], callback_url=rx.url("/hook"), callback_secret=SECRET)
        await insert_completions(
            holder,
            [
                Completion(
                    1,
                    1,
                    1,
                    "submitted",
                    "YouTube",
                    "https://www.youtube.com/watch?v=abcdefghijk",
                    datetime.combine(day, time(12)),
                    {"view_count": 10, "like_count": 2, "comment_count": 1},
                )
            ],
        )
        # Another daemon is scanning the day: ours waits on its lock, mid-scan.
        await holder.execute(QUERIES["lock_day"], day)
        admin = await asyncpg.connect(pg_admin_url)
        try:
            async with started(
                db_url,
                CATCHUP_DAYS="1",
                SCAN_CRON="0 0 * * *",  # yesterday owed at start, whatever the hour
                SCAN_RETRY_BASE_SECONDS="0.2",
                SCAN_RETRY_MAX_SECONDS="1",
                WEBHOOK_ALLOW_PRIVATE="true",
                WEBHOOK_RETRY_INTERVAL_SECONDS="1",
            ) as (proc, port):
                await proc.wait_for("service.ready")
                await until_someone_waits_for_a_lock(holder)
                health = f"http://127.0.0.1:{port}/healthz"
                async with aiohttp.ClientSession() as http, http.get(health) as response:
                    assert response.status == 200  # a long wait on a day's lock is alive

                # The database goes away: no new connections, every one cut (the
                # holder's too, which ends the other daemon's lock).
                await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
                # Scans crash and are retried with backoff while it is away.
                await proc.wait_for(
                    "service.scan_retry_scheduled", times=3, stats_date=day.isoformat()
                )
                assert proc.count("service.scan_crashed") >= 1
                async with aiohttp.ClientSession() as http, http.get(health) as response:
                    assert response.status == 503
                    assert "database" in await response.json()
                await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

                # Back: the day is scanned and delivered, without a signal or restart.
                await proc.wait_for(
                    "scan.finished", within=60, stats_date=day.isoformat(), status="succeeded"
                )

                async def delivered() -> bool:
                    conn = await asyncpg.connect(db_url)
                    try:
                        return bool(
                            await conn.fetchval(
                                "SELECT count(*) FROM dailystats_deliveries"
                                " WHERE stats_date = $1 AND status = 'delivered'",
                                day,
                            )
                        )
                    finally:
                        await conn.close()

                await _until(delivered, within=60)
                assert [r.signature_ok for r in rx.requests] == [True]
                assert proc.process.returncode is None
                assert proc.count("service.ready") == 1

                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert response.status == 200
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                        text = await response.text()
                assert 'dailystats_scans_total{status="crashed"}' in text
                assert "dailystats_last_scan_success_timestamp_seconds 0.0" not in text
                await _stop(proc)
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            await admin.close()
            if not holder.is_closed():
                await holder.close()
