"""The intraday classification pass (issue 15): keeps the open days classified as the
bot writes them, so the nightly scan, each settle rescan and a SIGHUP rescan only
aggregate.

Every ``CLASSIFY_INTERVAL_SECONDS`` (0: off) it brings today, yesterday and the
``SETTLE_DAYS`` days before yesterday up to date (daemon.scan.classify) and prunes the
classification of days no longer open. It never waits for a day's lock: a day being
scanned is skipped (the scan classifies it), and each batch it writes holds the lock
for one short transaction, so a scan that arrives meanwhile waits for that batch only.
A complete day (before today) that no scan has aggregated yet is then grouped once
(daemon.scan.groups, without the lock), so its nightly scan only regroups.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from daemon.run.liveness import wait_any
from daemon.scan.batch import DaySync, apply_batch
from daemon.scan.classify import (
    BATCH,
    DayCheck,
    analyze_if_many,
    check_day,
    finish_day,
    prepare_day,
    refresh_user_nodes,
    set_mark,
)
from daemon.scan.groups import store_groups
from daemon.store.db import Db, Tx

log = structlog.get_logger("daemon.run.classifier")

PRUNE_BATCH = 20_000


@dataclass(slots=True)
class PassReport:
    days_checked: int = 0
    days_changed: int = 0
    rows_looked_at: int = 0
    days_busy: int = 0  # being scanned: left to the scan
    # The longest a day's lock was held by one batch: what a scan may have waited.
    longest_lock_seconds: float = 0.0
    nodes_changed: bool = False
    days_grouped: int = 0  # complete days grouped ahead of their first scan


def open_days(zone: ZoneInfo, settle_days: int, now: datetime | None = None) -> list[date]:
    """Today, yesterday and the settle window before it, newest first (stats zone)."""
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    return [today - timedelta(days=n) for n in range(settle_days + 2)]


async def classify_pass(
    db: Db,
    zone: ZoneInfo,
    statuses: Sequence[str],
    days: Sequence[date],
    *,
    batch: int = BATCH,
) -> PassReport:
    report = PassReport()
    today = datetime.now(UTC).astimezone(zone).date()
    async with db.connection() as conn:
        report.nodes_changed = await refresh_user_nodes(conn)
        for day in days:
            report.days_checked += 1
            # The unchanged case, and the comparison, read without the lock.
            check = await check_day(conn, day, zone, statuses)
            if not check.same:
                report.days_changed += 1
                if not await _classify_day(conn, day, zone, statuses, check, batch, report):
                    continue  # being scanned: left to the scan
            if day < today and await store_groups(conn, day):
                report.days_grouped += 1
    return report


async def _classify_day(
    conn: Tx,
    day: date,
    zone: ZoneInfo,
    statuses: Sequence[str],
    check: DayCheck,
    batch: int,
    report: PassReport,
) -> bool:
    """Bring a changed day up to date batch by batch; False when it was left to a scan."""
    sync = await prepare_day(conn, day, zone, statuses, check)
    report.rows_looked_at += sync.count
    done = True
    try:
        for first in range(0, max(sync.count, 1), batch):
            held = await _apply_locked(conn, sync, first, batch)
            if held is None:
                report.days_busy += 1
                done = False
                break
            report.longest_lock_seconds = max(report.longest_lock_seconds, held)
        else:  # every batch applied (a day left to its scan keeps its mark)
            await set_mark(conn, sync)
    finally:
        await finish_day(conn)
    await analyze_if_many(conn, sync.count)
    return done


async def _apply_locked(conn: Tx, sync: DaySync, first: int, batch: int) -> float | None:
    """One batch under the day's lock; how long it was held, or None when busy."""
    day = sync.stats_date
    if not await conn.fetchval("try_lock_day", day):
        return None
    started = time.monotonic()
    try:
        await apply_batch(conn, sync, first, first + batch)
    finally:
        await conn.execute("unlock_day", day)
    return time.monotonic() - started


async def prune_closed_days(db: Db, oldest_open: date, *, batch: int = PRUNE_BATCH) -> int:
    """Drop the classification of days before ``oldest_open``: each day's record under
    its lock (a scan of it in progress keeps it), then its rows in batches; links no
    open day used, and users no classified row names. Returns the rows deleted."""
    deleted = 0
    async with db.connection() as conn:
        days = await conn.fetch("closed_classified_days", oldest_open)
        for row in days:
            day = row["stats_date"]
            if not await conn.fetchval("try_lock_day", day):
                continue  # being scanned (an operator's rescan of a settled day)
            try:
                await conn.execute("forget_classified_day", day)
            finally:
                await conn.execute("unlock_day", day)
        while True:
            status = await conn.execute("prune_classified_rows", oldest_open, batch)
            count = int(status.split()[-1])
            deleted += count
            if count < batch:
                break
        await conn.execute("prune_links", oldest_open, batch)
        if deleted:
            await conn.execute("prune_user_nodes")
    return deleted


async def classify_loop(
    db: Db,
    zone: ZoneInfo,
    statuses: Sequence[str],
    settle_days: int,
    interval: float,
    stop: asyncio.Event,
) -> None:
    """The daemon's worker: a pass every ``interval`` seconds until told to stop."""
    while not stop.is_set():
        days = open_days(zone, settle_days)
        try:
            report = await classify_pass(db, zone, statuses, days)
            pruned = await prune_closed_days(db, days[-1])
            if report.days_changed or report.nodes_changed or pruned:
                log.info(
                    "classify.pass",
                    days_checked=report.days_checked,
                    days_changed=report.days_changed,
                    rows_looked_at=report.rows_looked_at,
                    days_busy=report.days_busy,
                    nodes_changed=report.nodes_changed,
                    rows_pruned=pruned,
                )
        except Exception:  # a database blip: the next pass tries again
            log.warning("classify.pass_failed", exc_info=True)
        await wait_any(asyncio.Event(), stop, at_most=interval)
