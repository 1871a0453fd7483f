"""``dailystats run``: the daemon, its lifecycle read top to bottom in :func:`serve`.

Two workers share one pool: the scan loop (fed by the nightly cron job, SIGHUP, the
look-back of owed days and the retries of failed ones) and the retry loop (due webhook
deliveries, on its own clock and right after each scan; retention rides along). Under
systemd (``Type=notify``) it says READY, pings the watchdog while alive, and says
STOPPING on SIGTERM/SIGINT, then stops in explicit steps.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, date, datetime, timedelta

import structlog
from apscheduler.triggers.cron import CronTrigger

from daemon.fetch.stops import key_fingerprint
from daemon.rules.dates import yesterday
from daemon.rules.redact import describe
from daemon.run import metrics
from daemon.run.classifier import classify_loop
from daemon.run.dbmetrics import DbGauges
from daemon.run.hangup import HANGUPS
from daemon.run.health import start_health_server
from daemon.run.liveness import Workers, wait_any, watchdog
from daemon.run.lookback import owed_days, retained_from
from daemon.run.notify import Notifier
from daemon.run.pipeline import deliver_pass, scan_and_deliver
from daemon.run.retention import prune
from daemon.run.scanqueue import DayQueue, retry_delay, settle_days
from daemon.run.scheduler import (
    NIGHTLY_JOB,
    NightlyDates,
    nightly_due_through,
    nightly_scheduler,
)
from daemon.scan.day import ScanMode
from daemon.scan.daylock import DayLockTimeout
from daemon.settings import Settings
from daemon.store.db import Db, pool_for
from daemon.store.migrations import pending_migrations
from daemon.store.privileges import PrivilegeError, check_daemon_privileges

log = structlog.get_logger("daemon.run.service")

# Retention runs at start and then this often (it only ever finds a day's worth).
RETENTION_EVERY_SECONDS = 6 * 3600.0


def run_service(settings: Settings) -> int:
    return asyncio.run(serve(settings))


async def serve(settings: Settings) -> int:
    # SIGHUP first: remembered until the daemon serves, never the end of it (hangup.py).
    HANGUPS.install()
    notifier = Notifier()
    # 1. the database, migrated; every wait on it bounded
    try:
        pool = await pool_for(settings)
    except Exception as exc:  # unreachable, refused, bad credentials: all end here
        log.error("service.database_unreachable", error=describe(exc))
        return 1
    db = Db(pool)
    try:
        async with pool.acquire() as conn:
            try:
                await check_daemon_privileges(conn)
            except PrivilegeError as exc:  # a setting of the database: exit 2, one line
                log.error("service.missing_privilege", error=str(exc))
                return 2
            pending = await pending_migrations(conn, settings.migrations_dir)
            if pending:
                log.error("service.not_migrated", pending=pending, hint="run `dailystats migrate`")
                return 1

        # 2. signals and the requests they make
        stop = asyncio.Event()
        deliver_now = asyncio.Event()
        queue = DayQueue()
        zone = settings.zone
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        HANGUPS.serve(loop, lambda: _log_and_ask(queue, [yesterday(zone)], "sighup"))

        # 3. health and metrics first: a port that cannot be had ends the start at once
        workers = Workers()
        gauges = DbGauges(settings)
        health = None
        if settings.health_port:
            try:
                health = await start_health_server(
                    db,
                    settings.health_port,
                    settings.health_host,
                    problem=workers.problem,
                    refresh=lambda: gauges.refresh(db),
                )
            except OSError as exc:  # busy port, unknown host: a bad setting, not a crash
                log.error(
                    "service.health_unavailable",
                    error="bad setting HEALTH_PORT/HEALTH_HOST: cannot listen on "
                    f"{settings.health_host}:{settings.health_port}: {exc.strerror or exc}",
                )
                return 2

        # 4. the nightly job, a coroutine on this loop (daemon.run.scheduler says why)
        nightly_dates = NightlyDates()

        async def nightly() -> None:
            day = nightly_dates.day_for(datetime.now(UTC), zone)
            if day is None:  # the same night again (a daylight-saving overlap)
                log.info("service.nightly_repeat_skipped")
                return
            _log_and_ask(queue, [day], "cron")
            # then the days before it, while they are still open (spec section 7)
            settling = settle_days(day, settings.settle_days)
            if settling:
                queue.ask(settling, "settle", time.monotonic(), "settle")

        scheduler = nightly_scheduler(zone, settings.scan_cron, nightly)
        scheduler.start()

        # 5. the workers
        await _refresh_metrics(db, gauges)
        workers.start("scan", scan_loop(db, settings, queue, stop, deliver_now, gauges))
        workers.start("retry", retry_loop(db, settings, stop, deliver_now, gauges))
        if settings.classify_interval_seconds:
            workers.start(
                "classify",
                classify_loop(
                    db,
                    zone,
                    settings.completed_statuses,
                    settings.settle_days,
                    settings.classify_interval_seconds,
                    stop,
                ),
            )
        metrics.WORKERS_ALIVE.set_function(lambda: 0.0 if workers.problem() else 1.0)
        pinger = asyncio.create_task(watchdog(notifier, workers, stop))
        notifier.send("READY=1")
        log.info(
            "service.ready",
            scan_cron=settings.scan_cron,
            timezone=settings.stats_timezone,
            health_port=settings.health_port or None,
            next_scan=str(scheduler.get_job(NIGHTLY_JOB).next_run_time),
            watchdog_seconds=notifier.watchdog_seconds,
        )

        # 6. run until told to stop, then stop in steps
        await stop.wait()
        notifier.send("STOPPING=1")
        log.info("service.stopping")
        scheduler.shutdown(wait=False)
        # SIGHUPs are ignored from here on; the handler itself stays until exit.
        HANGUPS.stop_serving()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        running = list(workers.tasks.values())
        _, unfinished = await asyncio.wait(running, timeout=settings.shutdown_grace_seconds)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*running, pinger, return_exceptions=True)
        if health is not None:
            await health.cleanup()
    finally:
        HANGUPS.stop_serving()
        await pool.close()
    log.info("service.stopped")
    return 0


def _log_and_ask(queue: DayQueue, days: list[date], trigger: str) -> None:
    log.info("service.rescan_requested", trigger=trigger, stats_date=days[0].isoformat())
    queue.ask(days, trigger, time.monotonic())


async def scan_loop(
    db: Db,
    settings: Settings,
    queue: DayQueue,
    stop: asyncio.Event,
    deliver_now: asyncio.Event,
    gauges: DbGauges,
) -> None:
    """Scan what is due; look back for owed days at start and every interval."""
    nightly = CronTrigger.from_crontab(settings.scan_cron, timezone=settings.zone)
    next_lookback = time.monotonic()
    lookback_failures = 0
    while not stop.is_set():
        queue.event.clear()  # before looking: an ask from now on wakes the wait below
        if time.monotonic() >= next_lookback:
            # Yesterday is owed from its nightly time on, at start too: a start between
            # midnight and SCAN_CRON leaves it to the cron job (spec section 7).
            last = nightly_due_through(nightly, datetime.now(UTC), settings.zone)
            try:
                await look_back(db, settings, queue, last)
                lookback_failures = 0
                next_lookback = time.monotonic() + settings.lookback_interval_seconds
            except Exception:  # the database is away: look again soon, with backoff
                lookback_failures += 1
                wait = _backoff(settings, lookback_failures)
                log.warning("service.lookback_failed", retry_in=round(wait, 1), exc_info=True)
                next_lookback = time.monotonic() + wait
        # A failed settle rescan is retried only while its day is in the window.
        settle_from = yesterday(settings.zone) - timedelta(days=settings.settle_days)
        for taken in queue.take_due(time.monotonic(), settle_from):
            if stop.is_set():
                break
            await scan_once(db, settings, queue, taken.day, taken.trigger, taken.mode)
            await _refresh_metrics(db, gauges)
            deliver_now.set()
        due = queue.next_due()
        wake_at = next_lookback if due is None else min(next_lookback, due)
        await wait_any(queue.event, stop, at_most=max(0.0, wake_at - time.monotonic()))


async def look_back(db: Db, settings: Settings, queue: DayQueue, last: date) -> None:
    key = settings.tikhub_api_key.get_secret_value() if settings.tikhub_api_key else None
    owed = await owed_days(
        db,
        last,
        settings.catchup_days,
        retained=retained_from(
            datetime.now(UTC).astimezone(settings.zone).date(), settings.retention_days
        ),
        tikhub_fingerprint=key_fingerprint(key),
    )
    for reason in ("missed", "incomplete"):
        days = [o.stats_date for o in owed if o.reason == reason]
        # A missed day is owed a full scan; a settle rescan missed while down is not owed.
        mode: ScanMode = "full" if reason == "missed" else "incomplete"
        trigger = "catchup" if reason == "missed" else "incomplete"
        added = queue.offer(days, trigger, time.monotonic(), mode)
        if added:
            metrics.LOOKBACK.labels(reason).inc(len(added))
            log.info("service.lookback", reason=reason, days=[d.isoformat() for d in added])


async def scan_once(
    db: Db, settings: Settings, queue: DayQueue, day: date, trigger: str, mode: ScanMode = "full"
) -> None:
    """One scan of one day; a failure or a crash schedules its retry (same mode), never raises."""
    ok = False
    try:
        result = await scan_and_deliver(
            db, settings, [day], trigger=trigger, deliver=False, mode=mode
        )
        for report in result.reports:
            metrics.record_scan(report, time.time())
        ok = result.ok
    except DayLockTimeout as exc:  # another process scans it: wait our turn, later
        log.warning("service.day_busy", stats_date=day.isoformat(), error=str(exc))
    except Exception:  # the loop outlives any one scan; the retry below tries again
        metrics.record_crash()
        log.exception("service.scan_crashed", stats_date=day.isoformat())
    if ok:
        queue.succeeded(day)
    else:
        failures, wait = queue.failed(day, time.monotonic(), lambda n: _backoff(settings, n), mode)
        log.warning(
            "service.scan_retry_scheduled",
            stats_date=day.isoformat(),
            failures=failures,
            retry_in=round(wait, 1),
        )
    metrics.AWAITING_RETRY.set(len(queue.failures))


def _backoff(settings: Settings, failures: int) -> float:
    return retry_delay(failures, settings.scan_retry_base_seconds, settings.scan_retry_max_seconds)


async def _refresh_metrics(db: Db, gauges: DbGauges) -> None:
    try:
        await gauges.refresh(db)
    except Exception:  # the next scan, pass or scrape refreshes them
        log.warning("service.metrics_refresh_failed", exc_info=True)


async def retry_loop(
    db: Db, settings: Settings, stop: asyncio.Event, deliver_now: asyncio.Event, gauges: DbGauges
) -> None:
    next_prune = time.monotonic()
    while not stop.is_set():
        deliver_now.clear()
        try:
            report = await deliver_pass(db, settings, stop=stop)
            metrics.record_deliveries(report)
        except Exception:  # a database blip must not end the retry loop
            log.exception("service.delivery_pass_crashed")
        await _refresh_metrics(db, gauges)
        if settings.retention_days and time.monotonic() >= next_prune and not stop.is_set():
            next_prune = time.monotonic() + RETENTION_EVERY_SECONDS
            await _prune(db, settings, stop)
        await wait_any(deliver_now, stop, at_most=settings.webhook_retry_interval_seconds)


async def _prune(db: Db, settings: Settings, stop: asyncio.Event) -> None:
    try:
        pruned = await prune(db, settings.retention_days, stop=stop)
    except Exception:  # tried again at the next round
        log.warning("service.retention_failed", exc_info=True)
        return
    for kind, count in pruned.items():
        metrics.PRUNED.labels(kind).inc(count)
