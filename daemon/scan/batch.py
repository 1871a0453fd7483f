"""A day's classified rows written (issue 15): one batch of a comparison, or a new
day's rows whole.

A batch (``apply_batch``) replaces the stored rows of the ids it covers
(``pg_temp.day_batch``) by their rows as they are now, classified
(``pg_temp.day_new``), in one transaction under the day's lock: the records of the days
it writes to are locked first, its new links classified and saved (each link parsed
once), the changed rows noted for a partial aggregation, and the days' fingerprints
kept exact. A new record's day (``classify_new_day``, a first scan's) is read by range,
by parallel workers, and stored whole: nothing is stored under it to compare with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from daemon.store.db import Tx

__all__ = ["ANALYZE_AFTER", "DaySync", "apply_batch", "classify_new_day"]

# Batches up to this many ids look their rows up by id instead of hash-joining tables.
SMALL_BATCH = 50_000
# New links in one batch beyond which the links table's statistics are refreshed.
ANALYZE_AFTER = 10_000


@dataclass(frozen=True, slots=True)
class DaySync:
    """One day's pending comparison: how many ids to look at, and the bounds."""

    stats_date: date
    start: datetime
    end: datetime
    statuses: list[str]
    key: str
    rekey: bool  # classified under other settings: every row is done again
    made: bool  # the record is new: no row is stored under the day (classify_open_day)
    count: int
    mark: int  # DayCheck.mark: the day's once every batch is applied (set_mark)


@asynccontextmanager
async def _writing(conn: Tx) -> AsyncIterator[None]:
    """One transaction writing the classification: no JIT, no wait for the log at
    commit (classify_commit_async)."""
    async with conn.conn.transaction():
        await conn.execute("jit_off")
        await conn.execute("classify_commit_async")
        yield


async def apply_batch(conn: Tx, sync: DaySync, first: int, last: int) -> None:
    """Classify the ids numbered ``(first, last]`` of the comparison as their rows are
    now, in one transaction; the caller holds the day's lock."""
    day = sync.stats_date
    whole = first == 0 and last >= sync.count
    async with _writing(conn):
        if last - first <= SMALL_BATCH:
            await conn.execute("index_lookups_only")
        if whole:
            await conn.execute("create_day_batch_all")
        else:
            await conn.execute("create_day_batch", first, last)
            await conn.execute("analyze_day_batch")
        await conn.execute("classify_lock_days", day)
        # The whole day afresh (a first classification): read by range, in parallel.
        afresh = whole and sync.rekey
        bounds = (sync.start, sync.end, sync.statuses)
        await _save_links(conn, day, bounds if afresh else None)
        if afresh:
            await conn.execute("create_day_new_all", *bounds, day)
            await conn.execute("keep_batch_rows")
        else:
            await conn.execute("create_day_new", *bounds, day)
        await conn.execute("analyze_day_new")
        noted = None
        if not sync.rekey:  # the changed rows noted for a partial aggregation
            await conn.execute("index_day_new")
            await conn.execute("create_day_changed")
            noted = [r["stats_date"] for r in await conn.fetch("day_changed_days")]
        await _store_batch(conn, sync, noted, last >= sync.count)
        # (On an error the transaction's rollback drops these with it.)
        await conn.execute("drop_day_changed")
        await conn.execute("drop_day_new")
        await conn.execute("drop_day_batch_view" if whole else "drop_day_batch")


async def classify_new_day(conn: Tx, sync: DaySync) -> int:
    """Classify the whole day of a new record at once (a first scan's; the caller holds
    its lock); returns the rows stored. Nothing is stored under the day yet, so there is
    nothing to compare: its rows are read by range, by parallel workers, and all stored.
    The day's new links are saved first, in a transaction of their own (a cache every
    day shares, kept if what follows fails), so the day's transaction takes the records'
    locks before anything else another batch could wait for."""
    day, bounds = sync.stats_date, (sync.start, sync.end, sync.statuses)
    async with _writing(conn):
        await _save_links(conn, day, bounds)
    async with _writing(conn):
        status = await conn.execute("create_day_new_all", *bounds, day)
        await conn.execute("analyze_day_new")
        await conn.execute("create_day_batch_new")
        await conn.execute("classify_lock_days", day)
        await _store_batch(conn, sync, None, True)
        await conn.execute("drop_day_batch_view")
        await conn.execute("drop_day_new")
    return int(status.split()[-1])


async def _save_links(
    conn: Tx, day: date, bounds: tuple[datetime, datetime, list[str]] | None
) -> None:
    """Classify and save the new links of the batch (``bounds``: of the whole day, read
    by range), and mark the known ones used on the day."""
    if bounds is None:
        await conn.execute("create_day_links")
    else:
        await conn.execute("create_day_links_all", *bounds)
    await conn.execute("analyze_day_links")
    while True:
        await conn.execute("classify_known_links", day)
        try:
            async with conn.conn.transaction():  # a savepoint
                saved = await conn.execute("classify_save_links", day)
            break
        except asyncpg.UniqueViolationError:
            continue  # another batch saved one of them since: known now, left out
    if int(saved.split()[-1]) > ANALYZE_AFTER:
        await conn.execute("analyze_links")  # planned with its new size below
    await conn.execute("drop_day_links")


async def _store_batch(conn: Tx, sync: DaySync, noted: list[date] | None, last: bool) -> None:
    """Replace the batch's stored rows (``day_batch``) by ``day_new``; mark the days
    they change (``last``: the comparison's last batch, which settles a new key). Rows
    compared one by one (``noted``: the days of those that changed) mark their days for
    a partial aggregation; rows classified afresh (``noted`` None) mark the day and
    every day their stored rows left, each aggregated whole."""
    unstored = [r["stats_date"] for r in await conn.fetch("classify_unstore")]
    await conn.execute("classify_store", sync.stats_date)
    await conn.execute("classify_seen_users")
    changed = [sync.stats_date, *unstored] if noted is None else noted
    if changed:
        await conn.execute("classify_mark_changed", sorted(set(changed)), sync.rekey)
        if not sync.rekey:
            await conn.execute("classify_note_changes")
    if sync.rekey and last:
        await conn.execute("classify_set_key", sync.stats_date, sync.key)
