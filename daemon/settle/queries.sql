-- Named queries of daemon.settle: explain: where a task's numbers came from.
-- Each under a "-- name: <name> --" header, loaded by daemon/store/queries.py and called by name.
-- Times are UTC (the pool sets it).

-- ======================================================================= stats sources
-- Last known stats and explainability (spec section 3, revision 2).

-- name: explain_tasks --
-- The task an operator names: by our id ($1) or by X2C's (external_task_id, $2).
SELECT task_id, external_task_id, project_id, title, status, callback_url IS NOT NULL AS has_url
FROM drama_tasks
WHERE task_id = $1 OR ($1::int IS NULL AND external_task_id = $2)
ORDER BY task_id

-- name: explain_last_run --
SELECT id, status, trigger, started_at, finished_at, videos_missing, videos_stale
FROM dailystats_scan_runs WHERE stats_date = $1 ORDER BY started_at DESC, id DESC LIMIT 1

-- name: explain_videos --
SELECT platform, video_id, short_link, alone_id, completions, source, has_saved,
       saved_views, saved_likes, saved_comments, saved_shares, saved_collects,
       cache_status, fetched_at, partial,
       cached_views, cached_likes, cached_comments, cached_shares, cached_collects,
       views, likes, comments, shares, collects
FROM pg_temp.day_videos WHERE task_id = $1
ORDER BY platform, video_id NULLS LAST, short_link NULLS LAST, alone_id

-- name: explain_completions --
SELECT c.id, c.user_id, c.platform, c.video_id, c.short_link, c.is_short,
       ut.submission_link AS link, ut.status, ut.submitted_at,
       c.views, c.likes, c.comments, c.shares, c.collects
FROM pg_temp.day_completions c JOIN user_tasks ut ON ut.id = c.id
WHERE c.task_id = $1
ORDER BY c.id

-- name: explain_stored_row --
SELECT * FROM task_daily_stats WHERE task_id = $1 AND stats_date = $2

-- name: explain_last_delivery --
SELECT id, status, attempts, created_at, delivered_at, last_status_code
FROM dailystats_deliveries WHERE task_id = $1 AND stats_date = $2
ORDER BY seq DESC LIMIT 1
