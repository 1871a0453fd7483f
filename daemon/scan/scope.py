"""What a scan aggregates: nothing (the day is unchanged), the whole day, or only the
tasks its changed rows touch.

A day's numbers depend on its classified rows, the tasks, the fetched stats and short
links, and the settings (``aggregate_key``). When only rows changed since the day's
last aggregation, and the classification noted each change row by row, the tasks of
those rows and the tasks sharing their videos are the only ones whose numbers can
differ (spec section 3: a video's saved counts are the day's, across tasks); the scan
reads their rows, and the rows of other tasks that count one of their videos, and
writes those tasks alone. Anything else (a node moved, new settings, a task changed,
new stats of the day's videos or answers for its short links) aggregates the whole
day. What another day's scan fetched for other videos changes nothing here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from daemon.scan.groups import group_rows
from daemon.scan.report import ScanMode
from daemon.store.db import Record, Tx

__all__ = [
    "Scope",
    "aggregate_key",
    "build_scope",
    "choose_scope",
    "drop_scope",
    "fetch_due",
    "narrow_to_scope",
    "unchanged_keys",
]

# The share of a day's rows changed beyond which it is aggregated whole.
MAX_CHANGED_SHARE = 0.1
# What each mode may refresh, least first (spec section 7): a day last aggregated by a
# scan that refreshed at least as much as this one is as this one would leave it.
_REFRESHES: tuple[ScanMode, ...] = ("settle", "incomplete", "full")


def aggregate_key(
    prefer_live: bool, max_age_seconds: float, enqueue: object | None, mode: ScanMode = "full"
) -> str:
    """What a day's numbers and payloads depend on beyond its rows and tasks: the
    source policy and freshness, the outbox's own settings (``key`` of the enqueue
    callable; one without a key never counts as unchanged), and the mode of the scan
    that aggregated it (a settle rescan keeps numbers a full scan would refresh)."""
    outbox = "none" if enqueue is None else getattr(enqueue, "key", None)
    if outbox is None:
        outbox = f"unknown:{id(enqueue)}:{time.monotonic_ns()}"
    text = f"{prefer_live}|{max_age_seconds}|{outbox}|{mode}"
    return hashlib.sha256(text.encode()).hexdigest()


def unchanged_keys(
    prefer_live: bool, max_age_seconds: float, enqueue: object | None, mode: ScanMode
) -> list[str]:
    """The aggregations a scan of ``mode`` may stand on: its own mode's, or one that
    refreshed more (a settle rescan after a full scan; never a full scan after a
    settle rescan, which kept older numbers)."""
    modes = _REFRESHES[_REFRESHES.index(mode) :]
    return [aggregate_key(prefer_live, max_age_seconds, enqueue, m) for m in modes]


def fetch_due(last: Record, api_keys: dict[str, str | None] | None, mode: ScanMode) -> bool:
    """Whether a scan of ``mode`` with these providers (platform to key; None: providers
    off) could fetch or resolve anything for a day whose last aggregation is ``last``:
    an unresolved short link (no key needed); for a settle rescan, videos with no stats
    at all on a platform whose provider has a key (it keeps stale fetched stats, spec
    section 7); otherwise also fetched stats gone stale, or videos without fetched
    stats on such a platform (a full scan's refresh)."""
    if api_keys is None:
        return False
    if last["unresolved_links"]:
        return True
    if mode == "settle" and last["missing_platforms"] is not None:
        return any(api_keys.get(p) for p in last["missing_platforms"])
    if last["fetch_due"]:
        return True
    return any(api_keys.get(p) for p in last["fetch_platforms"] or ())


@dataclass(frozen=True, slots=True)
class Scope:
    """A partial aggregation's starting point: the change counter the day was last
    aggregated at, and what that aggregation still owed. ``None`` in its place: whole."""

    since_seq: int
    incomplete_providers: tuple[str, ...]


def choose_scope(
    last: Record | None, due: Callable[[Record], bool], *, resolves_links: bool
) -> Scope | None:
    """The partial aggregation a changed day allows (``last``: its
    ``day_last_aggregation``), or None: aggregate it whole. A scan that resolves short
    links (``resolves_links``) aggregates a day with an unanswered one whole: the video
    it turns out to be may be counted by a task out of scope."""
    if last is None or not last["partial"] or due(last):
        return None
    if resolves_links and last["unresolved_now"]:
        return None
    # Each changed row is noted twice at most (as it was, as it is): beyond a tenth of
    # the day, reading the whole day at once is cheaper than looking rows up.
    if last["changes"] > max(last["completion_count"], 1) * MAX_CHANGED_SHARE * 2:
        return None
    return Scope(last["aggregated_seq"], tuple(last["incomplete_providers"] or ()))


async def build_scope(
    conn: Tx, stats_date: date, scope: Scope | None, build_whole: Callable[[], Awaitable[int]]
) -> int:
    """``pg_temp.day_scope`` (empty: whole) and the groups (daemon.scan.groups) of the rows
    the aggregation reads; returns the day's change counter they reflect."""
    if scope is None:
        await conn.execute("create_day_scope_empty")
        return await build_whole()
    seq: int = await conn.fetchval("day_change_seq", stats_date)
    async with conn.conn.transaction():
        await conn.execute("jit_off")
        await conn.execute("scope_lookups_only")  # a small scope, found through indexes
        await conn.execute("create_day_short_rows", stats_date)
        await conn.execute("create_day_scope_keys", stats_date, scope.since_seq)
        await conn.execute("create_day_scope", stats_date, scope.since_seq)
        await conn.execute("create_day_scope_rows", stats_date)
        await conn.execute("build_scoped_completions", stats_date)
    await group_rows(conn)
    return seq


async def narrow_to_scope(conn: Tx, scope: Scope | None) -> None:
    """After ``day_videos`` has each video's day-wide counts: keep the scope's tasks."""
    if scope is not None:
        await conn.execute("narrow_videos_to_scope")
        await conn.execute("narrow_accounts_to_scope")


async def drop_scope(conn: Tx) -> None:
    await conn.execute("drop_day_scope")
