"""The scan's write: the day's numbers, its split by node and the outbox, in one
transaction, from ``pg_temp.day_completions`` and ``pg_temp.day_videos``.

A whole aggregation writes every task of the day; a partial one (daemon.scan.scope)
the tasks of ``pg_temp.day_scope``, and the day's totals are then the sums of what
each task last counted (``dailystats_day_tasks``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta

import structlog

from daemon.scan.report import ScanReport
from daemon.store.db import Record, Tx

log = structlog.get_logger("daemon.scan.write")

__all__ = ["Aggregation", "Enqueue", "create_node_split", "drop_node_split", "write_day"]

# What queues a day's deliveries in the scan's transaction (daemon.webhook.outbox): of
# the tasks listed only, when a list is given (a partial aggregation's scope).
Enqueue = Callable[[Tx, date, list[int] | None], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Aggregation:
    """What the day's numbers were computed from, recorded beside them."""

    seq: int  # the day's change counter its rows reflect
    marks: Record  # aggregate_marks: when it began, the newest stats and link answers
    key: str  # aggregate_key of this scan
    tasks_key: str
    prefer_live: bool
    stats_max_age: timedelta
    whole: bool


async def create_node_split(conn: Tx) -> None:
    """``day_node_stats`` from the day's completions and videos (each video carries the
    node its counts fall to, spec section 9): the scan, ``explain`` and ``audit`` build
    the split alike, and each task's sums of it (``day_task_sums``)."""
    await conn.execute("create_day_node_stats")
    await conn.execute("create_day_task_sums")


async def drop_node_split(conn: Tx) -> None:
    await conn.execute("drop_day_node_stats")


async def write_day(
    conn: Tx,
    stats_date: date,
    report: ScanReport,
    agg: Aggregation,
    enqueue: Enqueue | None,
) -> None:
    """Upsert the day's rows (a row whose numbers did not change is not touched), zero
    tasks that lost their completions, store the numbers each video was counted with
    and the split by node, queue the deliveries the changed payloads imply, and record
    what it was all computed from: one transaction."""
    whole = agg.whole
    async with conn.conn.transaction():
        upserted: int = await conn.fetchval("upsert_day_stats", stats_date)
        zeroed = await conn.execute("zero_vanished_tasks", stats_date, whole)
        report.rows_changed = upserted + int(zeroed.split()[-1])
        await conn.execute("save_day_tasks", stats_date, whole)
        totals = await conn.fetchrow("day_task_totals", stats_date)
        assert totals is not None
        report.task_count = totals["task_count"]
        report.completion_count = totals["completion_count"]
        report.video_count = totals["video_count"]
        report.videos_missing = totals["videos_missing"]
        report.videos_stale = totals["videos_stale"]
        first_numbers = await _save_day_videos(conn, stats_date, report.run_id, whole)
        await conn.execute("upsert_day_node_stats", stats_date, whole)
        if enqueue is not None:
            # A partial aggregation changed the rows of its scope's tasks alone.
            tasks = None if whole else await conn.fetchval("day_scope_tasks")
            report.deliveries_queued = await enqueue(conn, stats_date, tasks)
        await conn.execute(
            "record_aggregate",
            stats_date,
            agg.seq,
            agg.marks["at"],
            agg.key,
            agg.tasks_key,
            report.task_count,
            report.completion_count,
            report.video_count,
            report.videos_missing,
            report.videos_stale,
            agg.prefer_live,
            agg.stats_max_age,
            agg.marks["stats_mark"],
            agg.marks["links_mark"],
            sorted(report.incomplete_providers),
            whole,
        )
        await conn.execute("forget_day_changes", stats_date, agg.seq)
    if first_numbers:
        await _analyze_day_videos(conn, stats_date)


async def _save_day_videos(conn: Tx, stats_date: date, run_id: int, whole: bool) -> bool:
    """The numbers each video was counted with (spec section 7): a day's first are
    inserted plainly (True), later ones upserted row by row."""
    await conn.execute("create_day_video_numbers")
    first = not await conn.fetchval("day_has_video_numbers", stats_date)
    if first:
        await conn.execute("insert_day_videos", stats_date, run_id)
    else:
        await conn.execute("save_day_videos", stats_date, run_id, whole)
    await conn.execute("drop_day_video_numbers")
    return first


async def _analyze_day_videos(conn: Tx, stats_date: date) -> None:
    """Statistics that know a day's first per-video numbers, once they are committed: a
    partial rescan's save then looks its videos up by key instead of reading the day's
    (autovacuum may be minutes away). Outside the write, whose numbers stand however
    this ends: the lock it takes waits for another day's analysis, never holds a write."""
    try:
        await conn.execute("analyze_day_video_stats")
    except Exception:  # a plan's statistics, not the day's numbers: never fails the scan
        log.warning("scan.analyze_failed", stats_date=stats_date.isoformat(), exc_info=True)
