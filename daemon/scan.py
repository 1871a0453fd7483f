"""The scan of one stats date, top to bottom.

1. take the day's lock and record the run;
2. classify the day's completions once, inside PostgreSQL (``day_completions``);
3. resolve new short links and fetch the stats no completion saved (when providers are on);
4. in one transaction: upsert ``task_daily_stats``, zero tasks that lost their
   completions, and queue the deliveries the changed payloads imply (the outbox);
5. record how the run ended, even when cancelled.

Every step is idempotent: a scan interrupted anywhere is recovered by scanning again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import structlog

from daemon.dates import day_bounds
from daemon.daylock import lock_day
from daemon.db import Db, Tx
from daemon.fetch import (
    FetchConfig,
    FetchCounters,
    FetchResult,
    FetchStatus,
    fetch_videos,
    resolve_short_links,
)
from daemon.fetch.gate import ProviderGate
from daemon.fetch.plan import spend_by_endpoint
from daemon.links import VideoRef
from daemon.provider_state import record_run_provider_state
from daemon.redact import describe
from daemon.settings import DEFAULT_COMPLETED_STATUSES, Settings
from daemon.video_cache import save_fetched

log = structlog.get_logger("daemon.scan")

# Refs read from the day's videos per round of fetching, and results per cache write:
# memory stays flat however many videos a day has.
FETCH_CHUNK = 5000
SAVE_BATCH = 500

Enqueue = Callable[[Tx, date], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class ScanConfig:
    zone: ZoneInfo
    completed_statuses: tuple[str, ...]
    prefer_live: bool
    stats_max_age: timedelta
    day_lock_wait: float = 3600.0  # seconds (daemon.daylock)

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


@dataclass(slots=True)
class LiveFetch:
    """What the scan needs to ask the platforms: one HTTP session for the whole scan."""

    session: aiohttp.ClientSession
    config: FetchConfig
    counters: FetchCounters = field(default_factory=FetchCounters)
    # Provider stops and the TikHub budget beyond this run (None: this run only).
    gate: ProviderGate | None = None


@dataclass(slots=True)
class ScanReport:
    run_id: int
    stats_date: date
    trigger: str
    status: str = "running"
    task_count: int = 0
    completion_count: int = 0
    video_count: int = 0
    videos_missing: int = 0
    # Counted on their last known stats: stale, partial, or of a video since gone.
    videos_stale: int = 0
    videos_fetched: int = 0
    videos_gone: int = 0
    videos_failed: int = 0
    # Not asked because a provider was stopped or over budget (issue 7).
    videos_stopped: int = 0
    incomplete_providers: list[str] = field(default_factory=list)
    # TikHub calls answered 200 and their estimated USD, per endpoint.
    tikhub_spend: dict[str, dict[str, Any]] = field(default_factory=dict)
    short_links_resolved: int = 0
    rows_changed: int = 0
    deliveries_queued: int = 0
    # Where the time went: classifying the day, asking the APIs, writing rows and outbox.
    classify_seconds: float = 0.0
    fetch_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stats_date"] = self.stats_date.isoformat()
        return out


async def scan_day(
    db: Db,
    stats_date: date,
    config: ScanConfig,
    *,
    trigger: str,
    live: LiveFetch | None = None,
    enqueue: Enqueue | None = None,
) -> ScanReport:
    """Scan one stats date; the report's ``status`` says how it ended.

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
            report = ScanReport(run_id=run_id, stats_date=stats_date, trigger=trigger)
            bound = bound.bind(run_id=run_id)
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
    bound.info("scan.finished", **_summary(report))
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
    start, end = day_bounds(stats_date, config.zone)
    phase = time.monotonic()
    await conn.execute("create_day_completions", start, end, list(config.completed_statuses))
    await conn.execute("analyze_day_completions")
    report.classify_seconds = _since(phase)
    # Fresh means fetched since the scan began, less the allowed age; live, since it began.
    began: datetime = await conn.fetchval("db_now")
    cutoff = began - config.stats_max_age
    phase = time.monotonic()
    if live is not None:
        await _resolve_short_links(conn, db, live, report)
    await conn.execute("resolve_day_short_links")
    if live is not None:
        billed_before = Counter(live.counters.billed)
        await _fetch_missing(conn, db, live, config.prefer_live, cutoff, report)
        billed = live.counters.billed - billed_before
        report.tikhub_spend = spend_by_endpoint(billed, live.config.tikhub_prices)
    report.fetch_seconds = _since(phase)

    phase = time.monotonic()
    await conn.execute("create_day_videos", config.prefer_live, cutoff, began)
    async with conn.conn.transaction():
        summary = await conn.fetchrow("upsert_day_stats", stats_date)
        assert summary is not None
        zeroed = await conn.execute("zero_vanished_tasks", stats_date)
        report.task_count = summary["task_count"]
        report.completion_count = summary["completion_count"]
        report.video_count = summary["video_count"]
        report.videos_missing = summary["videos_missing"]
        report.videos_stale = summary["videos_stale"]
        report.rows_changed = summary["rows_changed"] + int(zeroed.split()[-1])
        if enqueue is not None:
            report.deliveries_queued = await enqueue(conn, stats_date)
    report.write_seconds = _since(phase)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


async def _resolve_short_links(conn: Tx, db: Db, live: LiveFetch, report: ScanReport) -> None:
    rows = await conn.fetch("unresolved_short_links")
    if not rows:
        return
    links = [r["link"] for r in rows]
    resolved = resolve_short_links(live.session, links, live.config, live.counters)
    async with aclosing(resolved):
        async for link, result in resolved:
            if not result.resolved:
                continue  # a network failure: tried again at the next scan
            # Remembered as resolved, even to no video; a completion only takes the
            # video when it is of its own platform (resolve_day_short_links).
            ref = result.ref
            await db.execute(
                "save_short_link",
                link,
                ref.platform if ref else None,
                ref.video_id if ref else None,
            )
            report.short_links_resolved += 1


async def _fetch_missing(
    conn: Tx,
    db: Db,
    live: LiveFetch,
    prefer_live: bool,
    cutoff: datetime,
    report: ScanReport,
) -> None:
    async for chunk in _chunks_to_fetch(conn, prefer_live, cutoff):
        batch: list[tuple[VideoRef, FetchResult]] = []
        results = fetch_videos(live.session, chunk, live.config, live.counters, gate=live.gate)
        async with aclosing(results):
            async for ref, result in results:
                if result.status is FetchStatus.OK:
                    report.videos_fetched += 1
                elif result.status is FetchStatus.GONE:
                    report.videos_gone += 1
                elif result.status in (FetchStatus.STOPPED, FetchStatus.DISABLED):
                    # Stopped: rescanned once the stop clears; disabled: no key, no call.
                    _note_not_asked(report, ref, result.status)
                    continue
                else:
                    report.videos_failed += 1
                    continue  # failed or disabled: nothing to cache, asked again next scan
                batch.append((ref, result))
                if len(batch) >= SAVE_BATCH:
                    await save_fetched(db, batch)
                    batch = []
        if batch:
            await save_fetched(db, batch)


async def _chunks_to_fetch(
    conn: Tx, prefer_live: bool, cutoff: datetime
) -> AsyncIterator[list[VideoRef]]:
    await conn.execute("create_videos_to_fetch", prefer_live, cutoff)
    await conn.execute("index_videos_to_fetch")
    after = ("", "")
    while rows := await conn.fetch("next_videos_to_fetch", *after, FETCH_CHUNK):
        yield [VideoRef(r["platform"], r["video_id"]) for r in rows]
        after = (rows[-1]["platform"], rows[-1]["video_id"])


async def _release(conn: Tx, stats_date: date) -> None:
    try:
        await conn.execute("drop_day_completions")
        await conn.execute("drop_videos_to_fetch")
        await conn.execute("drop_day_videos")
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
        )
        await record_run_provider_state(
            db, report.run_id, report.incomplete_providers, report.tikhub_spend
        )
        await db.execute("finish_run_stale", report.run_id, report.videos_stale)
    except Exception:
        log.exception("scan.record_failed", run_id=report.run_id)


def _note_not_asked(report: ScanReport, ref: VideoRef, status: FetchStatus) -> None:
    provider = "youtube" if ref.platform == "yt" else "tikhub"
    if status is FetchStatus.STOPPED:
        report.videos_stopped += 1
        if provider not in report.incomplete_providers:
            report.incomplete_providers.append(provider)


def _summary(report: ScanReport) -> dict[str, Any]:
    out = report.as_dict()
    for key in ("run_id", "stats_date", "trigger"):
        out.pop(key)
    return out
