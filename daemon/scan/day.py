"""The scan of one stats date, top to bottom.

1. take the day's lock and record the run;
2. bring the day's classification up to date (only rows changed since are classified,
   daemon.scan.classify); when nothing the day's numbers depend on changed since its
   last successful scan, stop there (unchanged); when only rows changed, read only the
   tasks they touch (daemon.scan.scope); group the rows read per task and video
   (daemon.scan.groups: grouped ahead by the intraday pass when the day is complete);
3. resolve new short links and fetch the stats no completion saved (when providers are
   on), as the scan's mode allows (full, settle or incomplete: spec section 7);
4. in one transaction (daemon.scan.write): upsert ``task_daily_stats``, zero tasks that
   lost their completions, store the numbers each video was counted with and the split
   by node, and queue the deliveries the changed payloads imply (the outbox);
5. record how the run ended, even when cancelled.

Every step is idempotent: a scan interrupted anywhere is recovered by scanning again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import structlog

from daemon.fetch.plan import spend_by_endpoint
from daemon.rules.redact import describe
from daemon.scan.classify import build_day_completions, classify_day, refresh_user_nodes
from daemon.scan.daylock import lock_day
from daemon.scan.groups import drop_groups, group_rows, load_groups, resolve_groups
from daemon.scan.livestats import LiveFetch, api_keys, fetch_missing, resolve_day_links
from daemon.scan.report import ScanMode, ScanReport
from daemon.scan.scope import (
    aggregate_key,
    build_scope,
    choose_scope,
    drop_scope,
    fetch_due,
    narrow_to_scope,
    unchanged_keys,
)
from daemon.scan.write import Aggregation, Enqueue, create_node_split, drop_node_split, write_day
from daemon.settings import DEFAULT_COMPLETED_STATUSES, Settings
from daemon.store.db import Db, Record, Tx

log = structlog.get_logger("daemon.scan.day")

__all__ = ["Enqueue", "LiveFetch", "ScanConfig", "ScanMode", "ScanReport", "scan_day"]

# What a scan may refresh (spec section 7): full refreshes stale fetched stats; settle
# calls a provider only for videos with no stats at all and keeps the numbers the day
# last used; incomplete also fetches what a stop or budget left out.


@dataclass(frozen=True, slots=True)
class ScanConfig:
    zone: ZoneInfo
    completed_statuses: tuple[str, ...]
    prefer_live: bool
    stats_max_age: timedelta
    day_lock_wait: float = 3600.0  # seconds (daemon.scan.daylock)

    @classmethod
    def defaults(
        cls, zone: str = "UTC", *, prefer_live: bool = False, stats_max_age: timedelta | None = None
    ) -> ScanConfig:
        """The settings' defaults, for the demo, tests and benchmarks."""
        return cls(
            zone=ZoneInfo(zone),
            completed_statuses=DEFAULT_COMPLETED_STATUSES,
            prefer_live=prefer_live,
            stats_max_age=stats_max_age if stats_max_age is not None else timedelta(hours=6),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ScanConfig:
        return cls(
            zone=settings.zone,
            completed_statuses=settings.completed_statuses,
            prefer_live=settings.stats_source_policy == "live_first",
            stats_max_age=timedelta(seconds=settings.video_stats_max_age_seconds),
            day_lock_wait=settings.day_lock_wait_seconds,
        )


async def scan_day(
    db: Db,
    stats_date: date,
    config: ScanConfig,
    *,
    trigger: str,
    mode: ScanMode = "full",
    live: LiveFetch | None = None,
    enqueue: Enqueue | None = None,
) -> ScanReport:
    """Scan one stats date; the report's ``status`` says how it ended. A day with no
    successful scan yet is scanned full whatever ``mode`` asks.

    A failed scan is a report, not an exception; only cancellation, a day lock not had
    in time (DayLockTimeout), and a database that cannot be reached at all, propagate.
    """
    bound = log.bind(stats_date=stats_date.isoformat(), trigger=trigger)
    bound.info("scan.started")
    started = time.monotonic()
    async with db.connection() as conn:
        # Waits while another process scans this day; the run is recorded once it has
        # the day, so a waiting scan is never mistaken for a dead one.
        await lock_day(conn, stats_date, config.day_lock_wait)
        try:
            run_id = await conn.fetchval("start_run", stats_date, trigger)
            await conn.execute("interrupt_stale_runs", stats_date, run_id)
            if mode != "full" and not await conn.fetchval("day_scanned_before", stats_date):
                mode = "full"
            report = ScanReport(run_id=run_id, stats_date=stats_date, trigger=trigger, mode=mode)
            bound = bound.bind(run_id=run_id, mode=mode)
            try:
                await _scan_locked(conn, db, stats_date, config, report, live, enqueue)
                report.status = "succeeded"
            except asyncio.CancelledError:
                report.status = "interrupted"
                raise
            except Exception as exc:
                report.status = "failed"
                report.error = describe(exc)  # stored and shown: never a secret
                bound.exception("scan.failed")
            finally:
                report.seconds = _since(started)
                # The run's final status is written even when the scan is being cancelled.
                await asyncio.shield(_finish(db, report))
        finally:
            await _release(conn, stats_date)
    bound.info("scan.finished", **report.summary())
    return report


async def _scan_locked(
    conn: Tx,
    db: Db,
    stats_date: date,
    config: ScanConfig,
    report: ScanReport,
    live: LiveFetch | None,
    enqueue: Enqueue | None,
) -> None:
    phase = time.monotonic()
    report.rows_classified = await classify_day(
        conn, stats_date, config.zone, config.completed_statuses
    )
    await refresh_user_nodes(conn)
    age = config.stats_max_age.total_seconds()
    key = aggregate_key(config.prefer_live, age, enqueue, report.mode)
    keys = unchanged_keys(config.prefer_live, age, enqueue, report.mode)
    tasks_key: str = await conn.fetchval("tasks_key")
    row = await conn.fetchrow("day_last_aggregation", stats_date, keys, tasks_key)
    last = row if row is not None and row["same_rows"] else None  # nothing changed
    due = partial(fetch_due, api_keys=None if live is None else api_keys(live), mode=report.mode)
    if last is not None and not due(last):
        report.classify_seconds = _since(phase)
        _unchanged(report, last)
        return
    # Rows changed: perhaps only the tasks they touch need aggregating again.
    scope = None if last is not None else choose_scope(row, due, resolves_links=live is not None)
    seq = await build_scope(conn, stats_date, scope, partial(_whole_day, conn, stats_date, report))
    report.partial = scope is not None
    report.classify_seconds = _since(phase)
    # Fresh means fetched since the scan began, less the allowed age; live, since it began.
    began: datetime = await conn.fetchval("db_now")
    cutoff = began - config.stats_max_age
    phase = time.monotonic()
    if live is not None:
        await resolve_day_links(conn, db, live, report)
    await resolve_groups(conn)
    if live is not None:
        billed_before = Counter(live.counters.billed)
        await fetch_missing(conn, db, live, config.prefer_live, cutoff, report, stats_date)
        billed = live.counters.billed - billed_before
        report.tikhub_spend = spend_by_endpoint(billed, live.config.tikhub_prices)
    report.fetch_seconds = _since(phase)
    if last is not None and not (
        report.videos_fetched or report.videos_gone or report.short_links_resolved
    ):
        _unchanged(report, last)  # the providers had nothing new for the day either
        return

    phase = time.monotonic()
    marks = await conn.fetchrow("aggregate_marks")
    assert marks is not None
    await conn.execute("create_day_videos", config.prefer_live, cutoff, began)
    if report.mode != "full" and not config.prefer_live:
        await conn.execute("keep_day_videos", stats_date, report.mode)
    await narrow_to_scope(conn, scope)
    if report.mode == "settle":  # it fetched nothing a stop left out: still owed
        owed: list[str] = await conn.fetchval("still_owed_providers", stats_date)
        report.incomplete_providers.extend(p for p in owed if p not in report.incomplete_providers)
    if scope is not None:  # what the tasks out of scope still owe
        report.incomplete_providers.extend(
            p for p in scope.incomplete_providers if p not in report.incomplete_providers
        )
    await create_node_split(conn)  # from the videos' final numbers
    aggregation = Aggregation(
        seq, marks, key, tasks_key, config.prefer_live, config.stats_max_age, scope is None
    )
    await write_day(conn, stats_date, report, aggregation, enqueue)
    report.write_seconds = _since(phase)


async def _whole_day(conn: Tx, stats_date: date, report: ScanReport) -> int:
    """The groups of the whole day: the pass's when they stand, else its classified rows
    read and grouped; the change counter they reflect."""
    seq = await load_groups(conn, stats_date)
    report.grouped_ahead = seq is not None
    if seq is None:
        seq = await build_day_completions(conn, stats_date)
        await group_rows(conn)
    return seq


def _unchanged(report: ScanReport, last: Record) -> None:
    """Nothing the day's numbers depend on changed since its last successful scan: its
    rows and deliveries stand as they are; the run reports the numbers they hold."""
    report.unchanged = True
    report.task_count = last["task_count"]
    report.completion_count = last["completion_count"]
    report.video_count = last["video_count"]
    report.videos_missing = last["videos_missing"]
    report.videos_stale = last["videos_stale"]
    for provider in last["incomplete_providers"] or ():
        if provider not in report.incomplete_providers:
            report.incomplete_providers.append(provider)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


async def _release(conn: Tx, stats_date: date) -> None:
    try:
        await conn.execute("drop_day_completions")
        await drop_groups(conn)
        await conn.execute("drop_day_sync")
        await conn.execute("drop_videos_to_fetch")
        await conn.execute("drop_day_videos")
        await drop_node_split(conn)
        await drop_scope(conn)
        await conn.execute("unlock_day", stats_date)
    except Exception:  # the pool resets a broken connection, and that drops both
        log.warning("scan.release_failed", stats_date=stats_date.isoformat(), exc_info=True)


async def _finish(db: Db, report: ScanReport) -> None:
    try:
        await db.execute(
            "finish_run",
            report.run_id,
            report.status,
            report.task_count,
            report.completion_count,
            report.video_count,
            report.videos_missing,
            report.videos_fetched,
            report.videos_failed,
            report.deliveries_queued,
            report.error,
            report.videos_stale,
            sorted(report.incomplete_providers) or None,
            json.dumps(report.tikhub_spend) if report.tikhub_spend else None,
        )
    except Exception:
        log.exception("scan.record_failed", run_id=report.run_id)
