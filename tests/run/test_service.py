"""The daemon as a process: start it, signal it, read its JSON log lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from daemon.store.queries import QUERIES
from tests.run.daemon_logs import Daemon, started
from tests.run.locks import until_someone_waits_for_a_lock


@pytest.fixture
def grace() -> str:
    return "30"


@pytest.fixture
async def daemon(db_url: str, grace: str) -> AsyncIterator[tuple[Daemon, int]]:
    # Nightly at midnight: yesterday is owed from the start whatever the hour.
    async with started(
        db_url, CATCHUP_DAYS="2", SCAN_CRON="0 0 * * *", SHUTDOWN_GRACE_SECONDS=grace
    ) as running:
        yield running


async def rescan_held_up(proc: Daemon, holder: asyncpg.Connection, day: date) -> None:
    """SIGHUP a rescan of ``day`` while ``holder`` holds its lock, as another daemon
    would: returns once the rescan is waiting for the lock."""
    await holder.execute(QUERIES["lock_day"], day)
    proc.process.send_signal(signal.SIGHUP)
    await proc.wait_for("service.rescan_requested")
    await until_someone_waits_for_a_lock(holder)


def _yesterday() -> str:
    return (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


async def test_starts_catches_up_serves_health_and_stops_cleanly(
    daemon: tuple[Daemon, int], db_url: str
) -> None:
    proc, port = daemon
    await proc.wait_for("service.ready")
    # The two days of the look-back window had no scan: both are scanned at start.
    await proc.wait_for("scan.finished", times=2)
    assert {e["stats_date"] for e in proc.events if e["event"] == "scan.finished"} == {
        _yesterday(),
        (datetime.now(UTC).date() - timedelta(days=2)).isoformat(),
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"ok": True}

        async def metrics_show_both_scans() -> None:
            # Metrics are recorded just after the scan logs its end: poll until then.
            while True:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    if 'dailystats_scans_total{status="succeeded"} 2.0' in await response.text():
                        return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(metrics_show_both_scans(), 30)

    proc.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.process.wait(), 30) == 0
    await proc.reader
    assert proc.count("service.stopped") == 1


async def test_sighups_during_a_scan_give_exactly_one_more_scan(
    daemon: tuple[Daemon, int], db_url: str
) -> None:
    proc, _ = daemon
    await proc.wait_for("service.ready")
    await proc.wait_for("scan.finished", times=2)
    day = datetime.now(UTC).date() - timedelta(days=1)

    holder = await asyncpg.connect(db_url)
    try:
        await rescan_held_up(proc, holder, day)
        # The kernel merges signals sent back to back: send each once the last was seen.
        for seen in (2, 3, 4):
            proc.process.send_signal(signal.SIGHUP)
            await proc.wait_for("service.rescan_requested", times=seen)
        await holder.execute(QUERIES["unlock_day"], day)
    finally:
        await holder.close()

    await proc.wait_for("scan.finished", times=4)
    proc.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.process.wait(), 30) == 0
    await proc.reader
    conn = await asyncpg.connect(db_url)
    try:
        runs = await conn.fetchval(
            "SELECT count(*) FROM dailystats_scan_runs WHERE stats_date = $1", day
        )
    finally:
        await conn.close()
    # One at start (catch-up), the one that waited, and one more for the three SIGHUPs.
    assert runs == 3
    assert proc.count("scan.finished", stats_date=day.isoformat()) == 3


@pytest.mark.parametrize("grace", ["0.5"])
async def test_sigterm_cancels_a_scan_that_outlives_the_grace_and_exits_0(
    daemon: tuple[Daemon, int], db_url: str
) -> None:
    proc, _ = daemon
    await proc.wait_for("scan.finished", times=2)
    day = datetime.now(UTC).date() - timedelta(days=1)
    holder = await asyncpg.connect(db_url)
    try:
        await rescan_held_up(proc, holder, day)
        proc.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.process.wait(), 30) == 0
        await proc.reader
        assert proc.count("service.stopped") == 1
        # Nothing left half-done: no run stays 'running'.
        running = await holder.fetchval(
            "SELECT count(*) FROM dailystats_scan_runs WHERE status = 'running'"
        )
        assert running == 0
    finally:
        await holder.close()


async def test_unmigrated_database_ends_the_daemon_with_a_reason(empty_db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update({"DATABASE_URL": empty_db_url, "LOG_FORMAT": "json", "HEALTH_PORT": "0"})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon", "run", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    events = [json.loads(line)["event"] for line in stderr.decode().splitlines()]
    assert events == ["service.not_migrated"]


async def test_a_start_before_the_nightly_time_does_not_scan_yesterday_early(
    db_url: str,
) -> None:
    """SCAN_CRON at 23:59 UTC, started earlier in the day: yesterday is owed only from
    its nightly time on (the cron job scans it), so the catch-up at start scans the day
    before yesterday alone."""
    now = datetime.now(UTC)
    if (now.hour, now.minute) >= (23, 58):
        pytest.skip("too close to the nightly time to tell")
    async with started(db_url, CATCHUP_DAYS="2", SCAN_CRON="59 23 * * *") as (proc, _):
        await proc.wait_for("service.lookback")
        [lookback] = [e for e in proc.events if e["event"] == "service.lookback"]
        # The window of two days ends at the last day owed: the day before yesterday.
        before = [(now.date() - timedelta(days=n)).isoformat() for n in (3, 2)]
        assert lookback["days"] == before
        await proc.wait_for("scan.finished", times=2)
        proc.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.process.wait(), 30) == 0
        await proc.reader
    scanned = {e["stats_date"] for e in proc.events if e["event"] == "scan.finished"}
    assert scanned == set(before)


async def test_a_sighup_while_the_daemon_starts_never_ends_it() -> None:
    """The database answers nothing: the daemon is still starting (its pool not up) when
    the SIGHUP comes. It goes on and ends for its own reason, never by the signal."""
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        accepted.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with started(
            "postgresql://postgres@127.0.0.1:1/x",
            DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/postgres",
            DATABASE_CONNECT_TIMEOUT_SECONDS="3",
        ) as (proc, _):
            await asyncio.wait_for(accepted.wait(), 30)  # connecting: not serving yet
            proc.process.send_signal(signal.SIGHUP)
            code = await asyncio.wait_for(proc.process.wait(), 60)
            await proc.reader
            assert code == 1, f"ended by {code}"
            assert proc.count("service.database_unreachable") == 1
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("grace", ["30"])
async def test_a_sighup_during_the_shutdown_grace_never_ends_the_daemon(
    daemon: tuple[Daemon, int], db_url: str
) -> None:
    proc, _ = daemon
    await proc.wait_for("scan.finished", times=2)
    day = datetime.now(UTC).date() - timedelta(days=1)
    holder = await asyncpg.connect(db_url)
    try:
        await rescan_held_up(proc, holder, day)
        proc.process.send_signal(signal.SIGTERM)
        await proc.wait_for("service.stopping")
        # Reloads racing the stop, over the first part of the grace (spaced, as the
        # kernel merges signals sent back to back).
        for _ in range(20):
            proc.process.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.05)
        assert proc.process.returncode is None
        # Let the scan it waits for finish inside the grace, then see how it ends.
        await holder.execute(QUERIES["unlock_day"], day)
        assert await asyncio.wait_for(proc.process.wait(), 30) == 0
        await proc.reader
        assert proc.count("service.stopped") == 1
    finally:
        await holder.close()
