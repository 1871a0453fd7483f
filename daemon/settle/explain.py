"""``dailystats explain``: where a task's numbers on one day come from, video by video.

It reads the day's classification as the scan does (daemon.scan.classify, the short links
already resolved, ``create_day_videos``) on a connection of its own, and reads: it
never fetches, writes stats or sends anything. An operator answers X2C's "why 0 views
for task 42?" with it: each video, the completions behind it, and which source its
counts came from (saved, cache, live, last known, missing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from daemon.scan.classify import build_day_completions, classify_day
from daemon.scan.day import ScanConfig
from daemon.scan.daylock import lock_day
from daemon.scan.groups import drop_groups, group_rows, resolve_groups
from daemon.scan.write import create_node_split, drop_node_split
from daemon.store.db import Db, Record, Tx

MAX_COUNT = 2**63 - 1
COUNTS = ("views", "likes", "comments", "shares", "collects")
# The counts each platform sums into task_daily_stats.
PLATFORM_COUNTS = {"yt": COUNTS[:3], "tt": COUNTS[:3], "dy": COUNTS}
COLUMN = {
    "views": "view",
    "likes": "like",
    "comments": "comment",
    "shares": "share",
    "collects": "collect",
}
SOURCES = {
    "saved": "the bot's saved verification_details: the largest of the video's completions'"
    " that day, in any task (the same numbers in every task that counts it)",
    "cache": "fetched from the API before the last scan, still fresh",
    "live": "fetched from the API by the last scan",
    "last_known": "the last stats fetched, however old (API down, stopped, over budget,"
    " a partial answer, or the video since gone; a count no fetch reported comes from the"
    " saved details): asked again at a later scan",
    "missing": "no stats at all: counts 0, asked again at the next scan",
}


class ExplainError(Exception):
    """The task or day cannot be explained; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class ExplainedCompletion:
    id: int
    user_id: int
    link: str | None
    status: str
    submitted_at: datetime
    saved: dict[str, int | None]


@dataclass(slots=True)
class ExplainedVideo:
    platform: str
    video_id: str | None
    short_link: str | None  # set while the short link is unresolved
    alone_id: int | None  # the one completion of a link that names no video
    source: str
    counts: dict[str, int]
    saved: dict[str, int | None]
    cache: dict[str, Any] | None
    agent_node: str | None = None  # the node its counts fall to (section 9); None: unassigned
    completions: list[ExplainedCompletion] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.video_id is not None:
            return self.video_id
        if self.short_link is not None:
            return f"{self.short_link} (short link, unresolved)"
        return "no video id in the link"


@dataclass(slots=True)
class Explanation:
    task: dict[str, Any]
    stats_date: date
    policy: str
    last_run: dict[str, Any] | None
    stored: dict[str, Any] | None
    computed: dict[str, int]
    last_delivery: dict[str, Any] | None
    videos: list[ExplainedVideo]
    no_platform: list[ExplainedCompletion]

    @property
    def differs(self) -> list[str]:
        """Columns whose stored value is not what a scan would compute now."""
        if self.stored is None:
            return sorted(self.computed) if self.videos or self.no_platform else []
        return [k for k, v in self.computed.items() if self.stored.get(k) != v]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stats_date"] = self.stats_date.isoformat()
        out["differs"] = self.differs
        out["sources"] = SOURCES
        return out


async def explain_day(
    db: Db,
    config: ScanConfig,
    stats_date: date,
    *,
    task_id: int | None = None,
    external_task_id: int | None = None,
) -> Explanation:
    tasks = await db.fetch("explain_tasks", task_id, external_task_id)
    if not tasks:
        which = f"task {task_id}" if task_id is not None else f"X2C task {external_task_id}"
        raise ExplainError(f"no {which} in drama_tasks")
    if len(tasks) > 1:
        ids = ", ".join(str(t["task_id"]) for t in tasks)
        raise ExplainError(f"X2C task {external_task_id} is tasks {ids}: name one with --task")
    task = dict(tasks[0])
    last_run = await db.fetchrow("explain_last_run", stats_date)
    async with db.connection() as conn:
        try:
            videos, completions = await _classify(conn, config, stats_date, task, last_run)
        finally:
            await drop_node_split(conn)
            await conn.execute("drop_day_videos")
            await conn.execute("drop_day_completions")
            await drop_groups(conn)
    stored = await db.fetchrow("explain_stored_row", task["task_id"], stats_date)
    delivery = await db.fetchrow("explain_last_delivery", task["task_id"], stats_date)
    explained = [_video(v) for v in videos]
    no_platform = _attach(explained, completions)
    return Explanation(
        task=task,
        stats_date=stats_date,
        policy="live_first" if config.prefer_live else "saved_first",
        last_run=dict(last_run) if last_run else None,
        stored=dict(stored) if stored else None,
        computed=_computed(explained, completions),
        last_delivery=dict(delivery) if delivery else None,
        videos=explained,
        no_platform=no_platform,
    )


async def _classify(
    conn: Tx, config: ScanConfig, stats_date: date, task: dict[str, Any], last_run: Record
) -> tuple[list[Record], list[Record]]:
    # The same classified rows the scan reads, brought up to date under the day's lock
    # (only the classification is written; never a number or a delivery).
    await lock_day(conn, stats_date, config.day_lock_wait)
    try:
        await classify_day(conn, stats_date, config.zone, config.completed_statuses)
        await build_day_completions(conn, stats_date)
        await group_rows(conn)
    finally:
        await conn.execute("unlock_day", stats_date)
    await resolve_groups(conn)
    now: datetime = await conn.fetchval("db_now")
    # "live": fetched since the last scan of the day began.
    since = last_run["started_at"] if last_run else None
    await conn.execute("create_day_videos", config.prefer_live, now - config.stats_max_age, since)
    await create_node_split(conn)
    videos = await conn.fetch("explain_videos", task["task_id"])
    completions = await conn.fetch("explain_completions", task["task_id"])
    return videos, completions


def _video(row: Record) -> ExplainedVideo:
    cache = None
    if row["cache_status"] is not None:
        cache = {
            "status": row["cache_status"],
            "fetched_at": row["fetched_at"],
            "partial": row["partial"],
            **{k: row[f"cached_{k}"] for k in COUNTS},
        }
    return ExplainedVideo(
        platform=row["platform"],
        video_id=row["video_id"],
        short_link=row["short_link"],
        alone_id=row["alone_id"],
        source=row["source"],
        counts={k: row[k] for k in COUNTS},
        saved={k: row[f"saved_{k}"] for k in COUNTS},
        cache=cache,
        agent_node=row["agent_node"] or None,
    )


def _completion(row: Record) -> ExplainedCompletion:
    return ExplainedCompletion(
        id=row["id"],
        user_id=row["user_id"],
        link=row["link"],
        status=row["status"],
        submitted_at=row["submitted_at"],
        saved={k: row[k] for k in COUNTS},
    )


def _attach(videos: list[ExplainedVideo], completions: list[Record]) -> list[ExplainedCompletion]:
    """Put each completion under its video (day_videos' grouping); return the rest."""
    alone = {v.alone_id: v for v in videos if v.alone_id is not None}
    keyed = {(v.platform, v.video_id, v.short_link): v for v in videos if v.alone_id is None}
    no_platform: list[ExplainedCompletion] = []
    for row in completions:
        video = alone.get(row["id"]) or keyed.get(
            (row["platform"], row["video_id"], row["short_link"])
        )
        if video is None:
            no_platform.append(_completion(row))
        else:
            video.completions.append(_completion(row))
    return no_platform


def _computed(videos: list[ExplainedVideo], completions: list[Record]) -> dict[str, int]:
    """The row a scan would write now, from the same videos (sums saturate, as in SQL)."""
    out = {
        "total_completion_count": len(completions),
        "total_account_count": len({r["user_id"] for r in completions}),
    }
    for platform, counts in PLATFORM_COUNTS.items():
        users = {r["user_id"] for r in completions if r["platform"] == platform}
        out[f"{platform}_account_count"] = len(users)
        for count in counts:
            total = sum(v.counts[count] for v in videos if v.platform == platform)
            out[f"{platform}_{COLUMN[count]}_count"] = min(total, MAX_COUNT)
    return out
