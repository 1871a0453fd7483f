"""Retention: what grows without limit, pruned in small batches.

Older than ``RETENTION_DAYS``: scan runs (each day's latest is kept), cached video stats
and short links no scan refreshed since, delivery versions that a newer version of
their task and day replaced (superseded, or delivered and then replaced by a version
delivered too), and the per-day video numbers of stats dates before the window. Never pruned:
``task_daily_stats``, pending and dead deliveries (replay) and the latest version of
each task and day (the outbox compares a new payload with it). Each batch is its own
short statement, so the daemon's other work and the bot are never held up for long.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog

from daemon.store.db import Db

log = structlog.get_logger("daemon.run.retention")

BATCH = 2000
# query name -> what it prunes, in the order they run
PRUNES = {
    "prune_scan_runs": "scan_runs",
    "prune_video_stats": "video_stats",
    "prune_short_links": "short_links",
    "prune_deliveries": "deliveries",
    "prune_day_video_stats": "day_video_stats",
}


def retention_cutoff(now: datetime, retention_days: int) -> datetime | None:
    """Rows older than this go; None when retention is off (0 days)."""
    if retention_days <= 0:
        return None
    return now - timedelta(days=retention_days)


async def prune(
    db: Db,
    retention_days: int,
    *,
    batch: int = BATCH,
    stop: asyncio.Event | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete what is older than the window; rows deleted per kind."""
    cutoff = retention_cutoff(now or datetime.now(UTC), retention_days)
    pruned = dict.fromkeys(PRUNES.values(), 0)
    if cutoff is None:
        return pruned
    for query, kind in PRUNES.items():
        while stop is None or not stop.is_set():
            deleted = int((await db.execute(query, cutoff, batch)).split()[-1])
            pruned[kind] += deleted
            if deleted < batch:
                break
    log.info("retention.pruned", cutoff=cutoff.isoformat(), **pruned)
    return pruned
