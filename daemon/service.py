"""``dailystats run``: the daemon, its lifecycle read top to bottom in :func:`serve`.

Two workers share one pool: the scan loop (fed by the nightly cron job, SIGHUP and the
catch-up of missed days) and the retry loop (due webhook deliveries, on its own clock
and right after each scan). SIGTERM/SIGINT stop it in explicit steps.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from daemon import metrics
from daemon.dates import days_between, yesterday
from daemon.db import Db, create_pool
from daemon.health import start_health_server
from daemon.migrations import pending_migrations
from daemon.pipeline import deliver_pass, scan_and_deliver
from daemon.redact import describe
from daemon.settings import Settings
from daemon.webhook.outbox import delivery_summary

log = structlog.get_logger("daemon.service")


@dataclass(slots=True)
class ScanRequests:
    """Days waiting to be scanned. Asking for a day already waiting adds nothing, so any
    number of SIGHUPs during a scan give exactly one more scan."""

    waiting: dict[date, str] = field(default_factory=dict)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def ask(self, days: Iterable[date], trigger: str) -> None:
        for day in days:
            self.waiting.setdefault(day, trigger)
        if self.waiting:
            self.event.set()

    def take(self) -> list[tuple[date, str]]:
        taken = sorted(self.waiting.items())
        self.waiting.clear()
        self.event.clear()
        return taken


async def wait_any(*events: asyncio.Event, at_most: float | None = None) -> None:
    """Until one of ``events`` is set, or ``at_most`` seconds pass."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def run_service(settings: Settings) -> int:
    return asyncio.run(serve(settings))


async def serve(settings: Settings) -> int:
    # 1. the database, migrated
    try:
        pool = await create_pool(
            settings.database_url.get_secret_value(), max_size=settings.database_pool_size
        )
    except Exception as exc:  # unreachable, refused, bad credentials: all end here
        log.error("service.database_unreachable", error=describe(exc))
        return 1
    db = Db(pool)
    try:
        async with pool.acquire() as conn:
            pending = await pending_migrations(conn, settings.migrations_dir)
        if pending:
            log.error("service.not_migrated", pending=pending, hint="run `dailystats migrate`")
            return 1

        # 2. signals and the requests they make
        stop = asyncio.Event()
        deliver_now = asyncio.Event()
        requests = ScanRequests()
        zone = settings.zone
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(
            signal.SIGHUP, lambda: _log_and_ask(requests, [yesterday(zone)], "sighup")
        )

        # 3. the nightly job
        scheduler = AsyncIOScheduler(timezone=zone)
        scheduler.add_job(
            lambda: requests.ask([yesterday(zone)], "cron"),
            CronTrigger.from_crontab(settings.scan_cron, timezone=zone),
            id="nightly-scan",
            coalesce=True,
            misfire_grace_time=3600,
        )
        scheduler.start()

        # 4. health and metrics
        health = None
        if settings.health_port:
            health = await start_health_server(db, settings.health_port)

        # 5. days missed while the daemon was down, then the workers
        requests.ask(await missed_days(db, settings), "catchup")
        workers = [
            asyncio.create_task(scan_loop(db, settings, requests, stop, deliver_now)),
            asyncio.create_task(retry_loop(db, settings, stop, deliver_now)),
        ]
        log.info(
            "service.ready",
            scan_cron=settings.scan_cron,
            timezone=settings.stats_timezone,
            health_port=settings.health_port or None,
            next_scan=str(scheduler.get_job("nightly-scan").next_run_time),
        )

        # 6. run until told to stop, then stop in steps
        await stop.wait()
        log.info("service.stopping")
        scheduler.shutdown(wait=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        _, unfinished = await asyncio.wait(workers, timeout=settings.shutdown_grace_seconds)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if health is not None:
            await health.cleanup()
    finally:
        await pool.close()
    log.info("service.stopped")
    return 0


def _log_and_ask(requests: ScanRequests, days: list[date], trigger: str) -> None:
    log.info("service.rescan_requested", trigger=trigger, stats_date=days[0].isoformat())
    requests.ask(days, trigger)


async def missed_days(db: Db, settings: Settings) -> list[date]:
    """Days of the look-back window without a successful scan."""
    if settings.catchup_days == 0:
        return []
    last = yesterday(settings.zone)
    first = last - timedelta(days=settings.catchup_days - 1)
    done = {r["stats_date"] for r in await db.fetch("succeeded_days", first, last)}
    return [d for d in days_between(first, last) if d not in done]


async def scan_loop(
    db: Db,
    settings: Settings,
    requests: ScanRequests,
    stop: asyncio.Event,
    deliver_now: asyncio.Event,
) -> None:
    while not stop.is_set():
        await wait_any(requests.event, stop)
        for day, trigger in requests.take():
            if stop.is_set():
                break
            try:
                result = await scan_and_deliver(db, settings, [day], trigger=trigger, deliver=False)
            except Exception:  # the loop outlives any one scan; the next request retries
                log.exception("service.scan_crashed", stats_date=day.isoformat())
                continue
            for report in result.reports:
                metrics.record_scan(report, time.time())
            deliver_now.set()


async def retry_loop(
    db: Db, settings: Settings, stop: asyncio.Event, deliver_now: asyncio.Event
) -> None:
    while not stop.is_set():
        deliver_now.clear()
        try:
            report = await deliver_pass(db, settings)
            summary = await delivery_summary(db)
            metrics.record_deliveries(
                report, summary["counts"]["pending"], summary["counts"]["dead"]
            )
        except Exception:  # a database blip must not end the retry loop
            log.exception("service.delivery_pass_crashed")
        await wait_any(deliver_now, stop, at_most=settings.webhook_retry_interval_seconds)
