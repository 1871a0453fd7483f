"""Each completion classified once (issue 15), kept in ``dailystats_completions``.

A day's rows are classified again only where they changed. The bot's tables are only
read, and ``user_tasks`` has no update time: a row changed when its ``xmin`` did. The
day's stored rows carry a fingerprint (count and XOR of hashes of their ``(id, xmin)``
pairs, kept exact by every write), so an unchanged day costs one read of its
``(id, xmin)`` pairs. That read also finds the rows written since the day was last
brought up to date (its mark: the xmin of that comparison's snapshot; every older row
version was visible to it): when the other rows are exactly the stored ones, only
those are compared, looked up by id, and a rescan's cost beyond the read grows with
the rows that changed; a row deleted or moved to another day compares the day whole
(a join of all its pairs with the stored ones); a day with no record has nothing to
compare with. The rows that differ are classified and stored (daemon.scan.batch: their
links through ``dailystats_links``, so a link is parsed once; the rule itself is one
SQL function, ``dailystats_classified_rows``). A day classified afresh is read by
range, by parallel workers; a batch is looked up by id. The scan then builds
``pg_temp.day_completions`` from the stored rows.

Writes to a day's rows are made under its lock (the scan's, or the intraday pass's
brief one, batch by batch); each batch re-reads the rows it writes, so a comparison
made earlier is never trusted beyond telling which rows to look at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from daemon.rules.dates import day_bounds
from daemon.scan.batch import ANALYZE_AFTER, DaySync, apply_batch, classify_new_day
from daemon.store.db import Tx

__all__ = [
    "DayCheck",
    "analyze_if_many",
    "build_day_completions",
    "check_day",
    "classify_day",
    "classify_key",
    "finish_day",
    "judge_day",
    "prepare_day",
    "refresh_user_nodes",
    "set_mark",
]

# Rows classified per transaction by the intraday pass (each under the day's lock).
BATCH = 5_000


def classify_key(zone: ZoneInfo, statuses: Sequence[str]) -> str:
    """The settings a day's classification depends on: a change classifies it afresh."""
    return f"{zone.key}|{','.join(sorted(set(statuses)))}"


@dataclass(frozen=True, slots=True)
class DayCheck:
    """What one read of the day's ``(id, xmin)`` pairs found (classify_fingerprint)."""

    same: bool  # the stored rows are exactly the day's completions
    mark: int  # that read's snapshot xmin: the day's mark once it is up to date
    since_ids: list[int] | None  # the only rows that can differ; None: all of them


async def check_day(
    conn: Tx, stats_date: date, zone: ZoneInfo, statuses: Sequence[str]
) -> DayCheck:
    """Whether the day's stored rows are exactly the bot's completions of the day, and
    if not, which rows to compare."""
    start, end = day_bounds(stats_date, zone)
    # One snapshot for both: the day's record and the read it is compared with.
    async with conn.conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("jit_off")
        day = await conn.fetchrow("classify_day_record", stats_date, classify_key(zone, statuses))
        mark32 = None if day is None else day["mark32"]
        read = await conn.fetchrow(
            "classify_fingerprint", start, end, list(statuses), stats_date, mark32
        )
    assert read is not None
    return judge_day(day, read)


def judge_day(day: Mapping[str, Any] | None, read: Mapping[str, Any]) -> DayCheck:
    """The day's check from its record (classify_day_record; None: no record) and the
    read of its rows (classify_fingerprint). The rows written since the mark are enough
    to compare when the others are exactly the stored rows but those ids': the day's
    count and XOR less theirs, on both sides. A row deleted or moved away since breaks
    that (its stored pair is in neither list), and the day is compared whole."""
    n, x = read["n"], read["x"]
    if day is None:
        return DayCheck(False, read["mark"], None)
    same = bool(day["same_key"]) and day["row_count"] == n and day["row_xor"] == x
    ids = read["since_ids"]
    if same or ids is None:
        return DayCheck(same, read["mark"], None)
    rest_same = (
        day["row_count"] - read["since_stored"] == n - read["since_done"]
        and day["row_xor"] ^ read["since_stored_xor"] == x ^ read["since_done_xor"]
    )
    return DayCheck(False, read["mark"], list(ids) if rest_same else None)


async def prepare_day(
    conn: Tx,
    stats_date: date,
    zone: ZoneInfo,
    statuses: Sequence[str],
    check: DayCheck,
    *,
    batched: bool = True,
) -> DaySync:
    """Open the day's record and list the ids to look at (``pg_temp.day_sync``): those
    written since its mark, else the whole day's; indexed for reading in batches unless
    it is applied at once (``batched`` False). A new record's day applied at once needs
    no list (classify_new_day)."""
    start, end = day_bounds(stats_date, zone)
    key = classify_key(zone, statuses)
    opened = await conn.fetchrow("classify_open_day", stats_date, key)
    assert opened is not None
    await conn.execute("drop_day_sync")
    if opened["made"] and not batched:
        return DaySync(stats_date, start, end, list(statuses), key, True, True, 0, check.mark)
    rekey: bool = opened["rekey"]
    bounds = (start, end, list(statuses), stats_date)
    async with conn.conn.transaction():
        await conn.execute("jit_off")
        if check.since_ids is not None and not rekey:
            await conn.execute("index_lookups_only")
            status = await conn.execute("create_day_sync_since", *bounds, check.since_ids)
        else:
            status = await conn.execute("create_day_sync", *bounds, rekey)
    count = int(status.split()[-1])
    await conn.execute("analyze_day_sync")
    if batched and count > BATCH:  # read in batches by the intraday pass
        await conn.execute("index_day_sync")
    return DaySync(stats_date, start, end, list(statuses), key, rekey, False, count, check.mark)


async def finish_day(conn: Tx) -> None:
    await conn.execute("drop_day_sync")


async def set_mark(conn: Tx, sync: DaySync) -> None:
    """Every batch of the comparison is applied: each row version written before its
    read is stored as it is."""
    await conn.execute("classify_set_mark", sync.stats_date, sync.mark)


async def classify_day(conn: Tx, stats_date: date, zone: ZoneInfo, statuses: Sequence[str]) -> int:
    """Bring the day's classification up to date at once; the caller holds its lock.
    Returns how many ids were looked at again (0: nothing had changed)."""
    check = await check_day(conn, stats_date, zone, statuses)
    if check.same:
        return 0
    sync = await prepare_day(conn, stats_date, zone, statuses, check, batched=False)
    try:
        if sync.made:
            count = await classify_new_day(conn, sync)
        else:
            await apply_batch(conn, sync, 0, max(sync.count, 1))
            count = sync.count
    finally:
        await finish_day(conn)
    await set_mark(conn, sync)
    await analyze_if_many(conn, count)
    return count


async def analyze_if_many(conn: Tx, rows: int) -> None:
    """Refresh the store's statistics after many rows changed (autovacuum may be minutes
    behind; a partial aggregation's lookups are planned from them)."""
    if rows > ANALYZE_AFTER:
        await conn.execute("analyze_completions")


async def refresh_user_nodes(conn: Tx) -> bool:
    """Notice users moved to another node: every classified day counts as changed (its
    numbers split by node may have). Days are marked before the snapshot moves on, so
    a crash in between only marks them again."""
    if not await conn.fetchval("user_nodes_changed"):
        return False
    await conn.execute("mark_all_days_changed")
    await conn.execute("refresh_user_nodes")
    return True


async def build_day_completions(conn: Tx, stats_date: date) -> int:
    """``pg_temp.day_completions`` from the day's classification; returns the day's
    change counter it reflects (read first: a change after it makes the day changed)."""
    seq: int = await conn.fetchval("day_change_seq", stats_date)
    async with conn.conn.transaction():
        await conn.execute("jit_off")
        await conn.execute("build_day_completions", stats_date)
    # Not analysed: what reads it groups and hashes alike without statistics (a
    # million-row day's analysis took 0.19 s, and the plans after it were the same).
    return seq
