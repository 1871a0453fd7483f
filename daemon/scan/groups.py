"""What the aggregation reads of a day's completions: ``pg_temp.day_groups`` (per task
and video, before short links are resolved) and ``pg_temp.day_accounts`` (per task and
node, the distinct accounts of the split).

A scan groups the rows it read (``day_completions``), unless the intraday pass grouped
the day ahead of it: a complete day never aggregated is grouped once its rows are
classified, and its groups are stored with the day's change counter; they stand for
its rows while the counter has not moved (any write to the day's classification, a
node moved, new settings move it). The nightly scan of a day classified as it happened
then reads one row a video per task instead of reading and sorting one a completion.
"""

from __future__ import annotations

from datetime import date

from daemon.scan.classify import build_day_completions
from daemon.store.db import Tx

__all__ = ["drop_groups", "group_rows", "load_groups", "resolve_groups", "store_groups"]


async def group_rows(conn: Tx) -> None:
    """``day_groups`` and ``day_accounts`` from ``pg_temp.day_completions``."""
    async with conn.conn.transaction():
        await conn.execute("jit_off")
        await conn.execute("create_day_groups")
        await conn.execute("create_day_accounts")
    # Not analysed (as day_completions): what reads them hashes whatever their statistics.


async def load_groups(conn: Tx, stats_date: date) -> int | None:
    """``day_groups`` and ``day_accounts`` from the day's stored groups when they are of
    its rows as they are now; the change counter they reflect, else None (nothing
    made). The caller holds the day's lock, so no classification moves it meanwhile (a
    node moved meanwhile moves it: the day's next scan aggregates it again)."""
    async with conn.conn.transaction(isolation="repeatable_read"):  # one snapshot
        seq: int | None = await conn.fetchval("day_groups_seq", stats_date)
        if seq is None:
            return None
        await conn.execute("load_day_groups", stats_date)
        await conn.execute("load_day_accounts", stats_date)
    # Not analysed, as group_rows' (a busy day's analysis took a fifth of a second).
    return seq


async def store_groups(conn: Tx, stats_date: date) -> bool:
    """Group a complete day ahead of its first scan (the intraday pass, after the day's
    classification is up to date); False when it does not want it. Reads without the
    day's lock: the groups carry the change counter read before the rows, so a change
    meanwhile leaves them standing for nothing (they are never used)."""
    if not await conn.fetchval("day_wants_groups", stats_date):
        return False
    try:
        seq = await build_day_completions(conn, stats_date)
        await group_rows(conn)
        async with conn.conn.transaction():
            await conn.execute("lock_day_groups", stats_date)
            await conn.execute("save_day_groups", stats_date)
            await conn.execute("save_day_accounts", stats_date)
            await conn.execute("set_day_groups_seq", stats_date, seq)
    finally:
        await conn.execute("drop_day_completions")
        await drop_groups(conn)
    return True


async def drop_groups(conn: Tx) -> None:
    await conn.execute("drop_day_groups")


async def resolve_groups(conn: Tx) -> None:
    """Give short-link groups the video their answered link names, then merge the groups
    that name one video in one task: after it, ``day_groups`` is one row a video per
    task (what ``create_day_videos`` reads)."""
    await conn.execute("resolve_day_short_links")
    await conn.execute("merge_day_groups")
