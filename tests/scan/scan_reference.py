"""A plain Python reference of spec section 3, and helpers to put test data in place.

Written straight from the spec, row by row, with none of the scan's SQL: the property
test checks every column the scan writes against it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from daemon.rules.counts import COUNT_FIELDS
from daemon.rules.links import classify_completion, short_link_key

MAX_COUNT = 2**63 - 1
STAT_KEYS = ("view_count", "like_count", "comment_count", "share_count", "collect_count")
COMPLETED = ("submitted", "approved", "completed", "verified")


@dataclass(frozen=True)
class Completion:
    id: int
    task_id: int
    user_id: int
    status: str | None
    platform: str | None
    link: str | None
    submitted_at: datetime | None  # naive UTC
    details: Any  # what json.dumps writes into verification_details, or None
    verified_at: datetime | None = None  # naive UTC


@dataclass(frozen=True)
class RawJson:
    """verification_details written as this exact JSON text (1e5, 100000.0, -0, ...)."""

    text: str


@dataclass(frozen=True)
class CachedStats:
    platform: str
    video_id: str
    status: str  # 'ok' or 'gone'
    counts: tuple[int | None, ...]  # views, likes, comments, shares, collects
    fresh: bool
    partial: bool = False  # the last fetch left a count unreported: never fresh
    # When it was fetched (naive UTC); None: now if fresh, else 30 days ago.
    fetched_at: datetime | None = None

    def fetched(self) -> datetime:
        now = datetime.now(UTC).replace(tzinfo=None)
        if self.fresh:
            return now
        return self.fetched_at if self.fetched_at is not None else now - timedelta(days=30)


def youtube_answer(cache: list[CachedStats], video_id: str, statistics: dict[str, str]) -> None:
    """The cache after a successful YouTube answer for ``video_id``: each count it carries
    replaces the old one; likes and comments it leaves out are a fresh 0; a missing view
    count keeps the old one (and leaves the row partial)."""
    old = next((c for c in cache if (c.platform, c.video_id) == ("yt", video_id)), None)
    before = old.counts if old is not None else (None,) * 5
    new = (
        usable(statistics.get("viewCount")),
        usable(statistics["likeCount"]) if "likeCount" in statistics else 0,
        usable(statistics["commentCount"]) if "commentCount" in statistics else 0,
        None,
        None,
    )
    counts = tuple(n if n is not None else b for n, b in zip(new, before, strict=True))
    if old is not None:
        cache.remove(old)
    cache.append(CachedStats("yt", video_id, "ok", counts, True, new[0] is None))


def usable(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, float | Decimal):
        # json.dumps writes a float as repr: the database reads that decimal exactly.
        exact = Decimal(repr(value)) if isinstance(value, float) else value
        if exact.is_finite() and exact == exact.to_integral_value() and 0 <= exact <= MAX_COUNT:
            return int(exact)
        return None
    if isinstance(value, str) and value and value.isascii() and value.isdigit():
        number = int(value)
        return number if number <= MAX_COUNT else None
    return None


def saved_counts(details: Any) -> tuple[int | None, ...]:
    if isinstance(details, RawJson):
        details = json.loads(details.text, parse_float=Decimal)
    if not isinstance(details, dict):
        return (None,) * 5
    return tuple(usable(details.get(k)) for k in STAT_KEYS)


def in_day(moment: datetime | None, day: date, zone: ZoneInfo) -> bool:
    return moment is not None and moment.replace(tzinfo=UTC).astimezone(zone).date() == day


def expected_rows(
    completions: list[Completion],
    day: date,
    zone: ZoneInfo,
    short_links: dict[str, tuple[str | None, str | None]],
    cache: list[CachedStats],
    prefer_live: bool,
) -> dict[int, dict[str, int]]:
    """task_id -> the counts of section 3 for that task on ``day``."""
    return expected_scan(completions, day, zone, short_links, cache, prefer_live)[0]


def expected_scan(
    completions: list[Completion],
    day: date,
    zone: ZoneInfo,
    short_links: dict[str, tuple[str | None, str | None]],
    cache: list[CachedStats],
    prefer_live: bool,
) -> tuple[dict[int, dict[str, int]], dict[str, int]]:
    """The rows, and how many videos took their counts from each source
    ("saved", "fresh", "known" for last known, "missing")."""
    cached = {(c.platform, c.video_id): c for c in cache}
    accounts: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    totals: dict[int, int] = defaultdict(int)
    videos: dict[tuple[int, str, object], list[tuple[int | None, ...]]] = defaultdict(list)
    day_saved: dict[tuple[str, object], list[tuple[int | None, ...]]] = defaultdict(list)
    saved_at: dict[tuple[str, object], datetime] = {}
    sources: dict[str, int] = defaultdict(int)
    for c in completions:
        if c.status not in COMPLETED or not in_day(c.submitted_at, day, zone):
            continue
        kind = classify_completion(c.platform, c.link)
        video_id = kind.video_id
        key: object = ("alone", c.id)
        if kind.is_short and c.link is not None:
            short = short_link_key(c.link)
            if short in short_links:
                resolved_platform, resolved_id = short_links[short]
                video_id = resolved_id if resolved_platform == kind.platform else None
            else:
                key = ("short", short)  # one video per unresolved short link
        totals[c.task_id] += 1
        accounts[c.task_id]["all"].add(c.user_id)
        accounts[c.task_id][kind.platform].add(c.user_id)
        if kind.platform != "other":
            key = video_id if video_id is not None else key
            videos[(c.task_id, kind.platform, key)].append(saved_counts(c.details))
            # A video's saved counts are the day's, across tasks (a lone one is its own).
            day_saved[(kind.platform, key)].append(saved_counts(c.details))
            relevant = 5 if kind.platform == "dy" else 3
            if any(n is not None for n in saved_counts(c.details)[:relevant]):
                stamp = c.verified_at or c.submitted_at
                assert stamp is not None
                saved_at[(kind.platform, key)] = max(
                    stamp, saved_at.get((kind.platform, key), stamp)
                )

    rows: dict[int, dict[str, int]] = {}
    for task_id, total in totals.items():
        row = {
            "total_completion_count": total,
            "total_account_count": len(accounts[task_id]["all"]),
        }
        for p in ("yt", "tt", "dy"):
            row[f"{p}_account_count"] = len(accounts[task_id][p])
            for k in ("view", "like", "comment") + (("share", "collect") if p == "dy" else ()):
                row[f"{p}_{k}_count"] = 0
        rows[task_id] = row
    for task_id, platform, key in videos:
        saved = day_saved[(platform, key)]
        relevant = 5 if platform == "dy" else 3
        best = [max((s[i] for s in saved if s[i] is not None), default=None) for i in range(5)]
        has_saved = any(b is not None for b in best[:relevant])
        row_cached = cached.get((platform, key)) if isinstance(key, str) else None
        fresh = (
            row_cached is not None
            and row_cached.fresh
            and row_cached.status == "ok"
            and not row_cached.partial
        )
        # Last known: any cached row holding a count this platform sums, however old.
        known = row_cached is not None and any(c is not None for c in row_cached.counts[:relevant])
        # live_first: fresh first, then the more recent of saved and last known.
        recent_known = (
            known
            and has_saved
            and row_cached is not None
            and row_cached.fetched() > saved_at[(platform, key)]
        )
        order = (
            ("fresh", "known", "saved")
            if prefer_live and recent_known
            else ("fresh", "saved", "known")
            if prefer_live
            else ("saved", "fresh", "known")
        )
        have = {"fresh": fresh, "known": known, "saved": has_saved}
        source = next((s for s in order if have[s]), "missing")
        sources[source] += 1
        if source == "fresh":
            assert row_cached is not None
            counts = [c or 0 for c in row_cached.counts]  # e.g. hidden YouTube likes: 0
        elif source == "known":
            # A count no fetch reported falls back to the saved one (freshest that has it).
            assert row_cached is not None
            counts = [
                c if c is not None else (b or 0)
                for c, b in zip(row_cached.counts, best, strict=True)
            ]
        elif source == "saved":
            counts = [b or 0 for b in best]
        else:
            counts = [0] * 5
        names = ("view", "like", "comment", "share", "collect")[:relevant]
        row = rows[task_id]
        for name, value in zip(names, counts, strict=False):
            column = f"{platform}_{name}_count"
            row[column] = min(row[column] + value, MAX_COUNT)
    return rows, dict(sources)


STAT_COLUMNS = COUNT_FIELDS  # the columns of task_daily_stats the scan writes


async def insert_tasks(conn: asyncpg.Connection, task_ids: list[int], **fields: Any) -> None:
    await conn.executemany(
        "INSERT INTO drama_tasks (task_id, title, project_id, external_task_id, duration,"
        " callback_url, callback_secret, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (
                t,
                fields.get("title", f"短剧任务 {t}"),
                fields.get("project_id", f"proj-{t}"),
                fields.get("external_task_id", 1000 + t),
                fields.get("duration", 15),
                fields.get("callback_url"),
                fields.get("callback_secret"),
                fields.get("status", "active"),
            )
            for t in task_ids
        ],
    )


async def insert_completions(conn: asyncpg.Connection, completions: list[Completion]) -> None:
    users = sorted({c.user_id for c in completions})
    await conn.executemany(
        "INSERT INTO users (user_id, username) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(u, f"user{u}") for u in users],
    )
    await conn.executemany(
        "INSERT INTO user_tasks (id, user_id, task_id, status, platform, submission_link,"
        " submitted_at, verification_details, verified_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
        [
            (
                c.id,
                c.user_id,
                c.task_id,
                c.status,
                c.platform,
                c.link,
                c.submitted_at,
                _details_text(c.details),
                c.verified_at,
            )
            for c in completions
        ],
    )


async def completions_now(conn: asyncpg.Connection) -> list[Completion]:
    """The bot's rows as they are now (after updates a test made in SQL)."""
    records = await conn.fetch(
        "SELECT id, task_id, user_id, status, platform, submission_link, submitted_at,"
        " verification_details, verified_at FROM user_tasks"
    )
    return [
        Completion(
            r["id"],
            r["task_id"],
            r["user_id"],
            r["status"],
            r["platform"],
            r["submission_link"],
            r["submitted_at"],
            None if r["verification_details"] is None else json.loads(r["verification_details"]),
            r["verified_at"],
        )
        for r in records
    ]


def _details_text(details: Any) -> str | None:
    if details is None:
        return None
    return details.text if isinstance(details, RawJson) else json.dumps(details)


async def insert_cache(conn: asyncpg.Connection, cache: list[CachedStats]) -> None:
    await conn.executemany(
        "INSERT INTO dailystats_video_stats (platform, video_id, status, view_count, like_count,"
        " comment_count, share_count, collect_count, partial, fetched_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " coalesce($10::timestamp AT TIME ZONE 'UTC', now()))",
        [
            (
                c.platform,
                c.video_id,
                c.status,
                *c.counts,
                c.partial,
                None if c.fresh else c.fetched(),
            )
            for c in cache
        ],
    )


async def stored_rows(conn: asyncpg.Connection, day: date) -> dict[int, dict[str, int]]:
    records = await conn.fetch("SELECT * FROM task_daily_stats WHERE stats_date = $1", day)
    return {r["task_id"]: {c: r[c] for c in STAT_COLUMNS} for r in records}


async def seven_hours_later(conn: Any) -> None:
    """Seven hours on: every cached stat is past the six-hour freshness, and the day's
    last aggregation (issue 15's bookkeeping) is as many hours older."""
    await conn.execute(
        "UPDATE dailystats_video_stats SET fetched_at = fetched_at - interval '7 hours'"
    )
    await conn.execute(
        "UPDATE dailystats_classified_days SET"
        " aggregated_at = aggregated_at - interval '7 hours',"
        " stats_mark = stats_mark - interval '7 hours',"
        " fetch_due_at = fetch_due_at - interval '7 hours'"
    )
