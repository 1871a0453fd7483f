"""The benchmark day of bench_scan.py: its data, generated inside PostgreSQL, the 1%
change its rescans see, and what a settled or re-aggregated day is."""

from __future__ import annotations

import contextlib
from datetime import date

import asyncpg

DAY = date(2024, 12, 9)

USERS = """
INSERT INTO users (user_id, username)
SELECT u, 'user' || u FROM generate_series(1, $1::int) u
"""
TASKS = """
INSERT INTO drama_tasks (task_id, title, project_id, external_task_id, duration, callback_url)
SELECT t, '短剧推广任务 ' || t, md5(t::text), 100000 + t, 15,
       'https://x2c.example/callback/' || t
FROM generate_series(1, $1::int) t
"""
# About three completions per video, each video within one task; 60% saved stats.
COMPLETIONS = """
INSERT INTO user_tasks (user_id, task_id, status, platform, submission_link, submitted_at,
                        verification_details)
SELECT ((i::bigint * 7919) % $1 + 1)::bigint,
       i % $2 + 1,
       CASE WHEN i % 50 = 0 THEN 'rejected' ELSE 'submitted' END,
       (ARRAY['YouTube', 'tiktok', '抖音', NULL, 'Instagram'])[i % 5 + 1],
       CASE i % 5
         WHEN 0 THEN 'https://www.youtube.com/watch?v=' || substr(md5(v::text), 1, 11)
         WHEN 1 THEN 'https://www.tiktok.com/@user' || v || '/video/' || (7000000000000000000 + v)
         WHEN 2 THEN 'https://www.douyin.com/video/' || (7100000000000000000 + v)
         WHEN 3 THEN 'https://youtu.be/' || substr(md5(v::text), 1, 11) || '?si=share'
         ELSE 'https://www.instagram.com/reel/' || v
       END,
       $3::timestamp + make_interval(secs => (i * 37) % 86400),
       CASE WHEN i % 5 < 3 THEN jsonb_build_object(
              'view_count', (v * 13) % 100000, 'like_count', ((v * 7) % 5000)::text,
              'comment_count', v % 300, 'share_count', v % 50, 'collect_count', v % 70)
       END
FROM generate_series(1, $4::int) i,
     LATERAL (SELECT i % $2 + $2 * (i / ($2 * 3))) AS video(v)
"""


# 1% of the day's rows changed, a third each: status, saved details, link. $1 < 99
# picks which 1%: each round of the rescans changes another (ROUNDS, and one past it).
ROUNDS = (7, 37, 67)
CHANGE_1PCT = """
UPDATE user_tasks SET
    status = CASE WHEN id % 300 = $1 THEN 'rejected' ELSE status END,
    verification_details = CASE WHEN id % 300 = $1 + 100
        THEN jsonb_build_object('view_count', id, 'like_count', 5) ELSE verification_details END,
    submission_link = CASE WHEN id % 300 = $1 + 200
        THEN 'https://www.youtube.com/watch?v=' || substr(md5(id::text), 3, 11)
        ELSE submission_link END
WHERE id % 100 = $1
"""
# The day's aggregation undone, as if never scanned: its numbers, split, per-video numbers,
# runs and deliveries gone and its record's aggregation forgotten; what the intraday
# pass wrote (the classification, the day's groups) stays. The next scan is a warm
# nightly one again.
UNAGGREGATE = """
TRUNCATE task_daily_stats, dailystats_deliveries, dailystats_scan_runs,
         dailystats_day_video_stats, dailystats_node_stats, dailystats_day_tasks,
         dailystats_day_changes;
UPDATE dailystats_classified_days SET
    aggregated_seq = NULL, aggregated_at = NULL, stats_mark = NULL, links_mark = NULL,
    aggregate_key = NULL, tasks_key = NULL, task_count = NULL, completion_count = NULL,
    video_count = NULL, videos_missing = NULL, videos_stale = NULL,
    fetch_platforms = NULL, missing_platforms = NULL, unresolved_links = NULL,
    fetch_due_at = NULL, incomplete_providers = NULL
"""
OURS = (
    "dailystats_completions, dailystats_classified_days, dailystats_links,"
    " dailystats_user_nodes, task_daily_stats, dailystats_deliveries, dailystats_scan_runs,"
    " dailystats_day_changes, dailystats_day_tasks, dailystats_day_video_stats,"
    " dailystats_node_stats, dailystats_day_groups, dailystats_day_accounts"
)


async def generate(conn: asyncpg.Connection, completions: int, tasks: int) -> None:
    users = max(completions // 10, 1)
    await conn.execute(USERS, users)
    await conn.execute(TASKS, tasks)
    await conn.execute(COMPLETIONS, users, tasks, DAY, completions)
    await conn.execute("VACUUM ANALYZE")
    # The generation's write-ahead log flushed now, not by a checkpoint that would spread
    # its writes over the timed scans (seen: a 3M run's scans slowed several times over).
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")


async def settle(conn: asyncpg.Connection) -> None:
    """What a scan or pass of a million rows wrote, vacuumed and analysed and flushed now,
    as autovacuum and the checkpointer would within minutes: the next timed run starts
    on a settled database, as the nightly rescans do hours later, instead of sharing two
    cores with a background vacuum of a million rows (seen: the unchanged rescan twice
    as long in one run as in another)."""
    await conn.execute(f"VACUUM (ANALYZE) {OURS}")
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")
