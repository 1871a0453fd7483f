-- Named queries of daemon.settle: explain (where a task's numbers came from), the
-- settlement report and the drift audit.
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
-- agent_node: the node the video's counts fall to (section 9; '' unassigned).
SELECT v.platform, v.video_id, v.short_link, v.alone_id, v.completions, v.source, v.has_saved,
       v.saved_views, v.saved_likes, v.saved_comments, v.saved_shares, v.saved_collects,
       v.cache_status, v.fetched_at, v.partial,
       v.cached_views, v.cached_likes, v.cached_comments, v.cached_shares, v.cached_collects,
       v.views, v.likes, v.comments, v.shares, v.collects, v.agent_node
FROM pg_temp.day_videos v
WHERE v.task_id = $1
ORDER BY v.platform, v.video_id NULLS LAST, v.short_link NULLS LAST, v.alone_id

-- name: explain_completions --
-- Each completion as counted: a short link answered names its video (of the same
-- platform; none of another), as resolve_day_short_links gives its group.
SELECT c.id, c.user_id, c.platform,
       CASE WHEN s.link IS NULL THEN c.video_id
            WHEN s.platform = c.platform THEN s.video_id END AS video_id,
       CASE WHEN s.link IS NULL THEN c.short_link END AS short_link, c.is_short,
       ut.submission_link AS link, ut.status, ut.submitted_at,
       c.views, c.likes, c.comments, c.shares, c.collects
FROM pg_temp.day_completions c JOIN user_tasks ut ON ut.id = c.id
LEFT JOIN dailystats_short_links s ON c.is_short AND s.link = c.short_link
WHERE c.task_id = $1
ORDER BY c.id

-- name: explain_stored_row --
SELECT * FROM task_daily_stats WHERE task_id = $1 AND stats_date = $2

-- name: explain_last_delivery --
SELECT id, status, attempts, created_at, delivered_at, last_status_code
FROM dailystats_deliveries WHERE task_id = $1 AND stats_date = $2
ORDER BY seq DESC LIMIT 1

-- ======================================================================= settlement
-- `dailystats report` and `dailystats audit` (spec section 9). They read stored rows
-- only. "Latest" is the highest seq of a task and day; "last delivered", the highest
-- seq with a 2xx recorded (delivered_at is set by a 2xx only), whatever its status now.

-- name: settle_deliveries --
-- Per task and day of [$1, $2] that has a delivery: the latest version's state, and
-- the last delivered version with the counts its body carried (absent fields: NULL).
WITH latest AS (
    SELECT DISTINCT ON (d.task_id, d.stats_date)
           d.task_id, d.stats_date, d.id AS latest_id, d.status AS latest_status,
           d.last_error AS latest_error
    FROM dailystats_deliveries d
    WHERE d.stats_date BETWEEN $1 AND $2
    ORDER BY d.task_id, d.stats_date, d.seq DESC
),
delivered AS (
    SELECT DISTINCT ON (d.task_id, d.stats_date)
           d.task_id, d.stats_date, d.id AS delivered_id, d.delivered_at,
           d.attempts AS delivered_attempts, d.body::jsonb -> 'stats' -> 0 AS item
    FROM dailystats_deliveries d
    WHERE d.stats_date BETWEEN $1 AND $2 AND d.delivered_at IS NOT NULL
    ORDER BY d.task_id, d.stats_date, d.seq DESC
)
SELECT l.task_id, l.stats_date, l.latest_id, l.latest_status, l.latest_error,
       v.delivered_id, v.delivered_at, v.delivered_attempts, v.item
FROM latest l LEFT JOIN delivered v USING (task_id, stats_date)

-- name: report_task_days --
-- The report by task: every stored row of [$1, $2], the state of its latest version,
-- and its last delivered version with the counts its body carried (body_counts,
-- migration 0014: a field the body left out is 0; never delivered: NULL). $3: a default
-- URL is configured, so a task without its own URL still has a receiver. $4: for the
-- CSV the server writes (COPY): a text cell that could start a formula gets a leading '
-- (as inert() in daemon/settle/report.py). Dates and ids as text, as the CSV has them.
-- The last delivered version comes from one sort of the range's delivered versions (in
-- memory: report_session); the latest is that one or, when newer, the newest version
-- never delivered (few: pending, dead, superseded before sending; their own index).
WITH delivered AS (
    SELECT DISTINCT ON (d.stats_date, d.task_id) d.stats_date, d.task_id, d.seq, d.status,
           d.status = 'dead' AND d.last_error LIKE 'no receiver%' AS no_receiver, d.id,
           d.delivered_at, d.attempts, d.body_counts AS c
    FROM dailystats_deliveries d
    WHERE d.stats_date BETWEEN $1 AND $2 AND d.delivered_at IS NOT NULL
    ORDER BY d.stats_date, d.task_id, d.seq DESC
),
undelivered AS (
    SELECT DISTINCT ON (d.stats_date, d.task_id) d.stats_date, d.task_id, d.seq, d.status,
           d.status = 'dead' AND d.last_error LIKE 'no receiver%' AS no_receiver
    FROM dailystats_deliveries d
    WHERE d.stats_date BETWEEN $1 AND $2 AND d.delivered_at IS NULL
    ORDER BY d.stats_date, d.task_id, d.seq DESC
),
task_days AS (
    SELECT s.*, t.title, t.callback_url,
           coalesce(t.external_task_id, s.external_task_id) AS x2c_task_id,
           coalesce(t.project_id, s.project_id) AS project
    FROM task_daily_stats s
    LEFT JOIN drama_tasks t ON t.task_id = s.task_id
    WHERE s.stats_date BETWEEN $1 AND $2
)
SELECT s.stats_date::text AS stats_date, s.task_id, s.x2c_task_id AS external_task_id,
       CASE WHEN $4::boolean AND left(s.project, 1) IN ('=', '+', '-', '@', E'\t', E'\r')
            THEN '''' || s.project ELSE s.project END AS project_id,
       CASE WHEN $4::boolean AND left(s.title, 1) IN ('=', '+', '-', '@', E'\t', E'\r')
            THEN '''' || s.title ELSE s.title END AS title,
       s.total_account_count, s.total_completion_count,
       s.yt_account_count, s.yt_view_count, s.yt_like_count, s.yt_comment_count,
       s.tt_account_count, s.tt_view_count, s.tt_like_count, s.tt_comment_count,
       s.dy_account_count, s.dy_view_count, s.dy_like_count, s.dy_comment_count,
       s.dy_share_count, s.dy_collect_count,
       CASE WHEN l.status IS NULL
                THEN CASE WHEN s.callback_url IS NULL AND NOT $3::boolean
                          THEN 'no_receiver' ELSE 'unsent' END
            WHEN l.no_receiver THEN 'no_receiver'
            ELSE l.status END AS state,
       to_char(v.delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS delivered_at,
       v.id::text AS delivery_id, v.attempts,
       v.c[1] AS delivered_total_account_count,
       v.c[2] AS delivered_yt_account_count, v.c[3] AS delivered_yt_view_count,
       v.c[4] AS delivered_yt_like_count, v.c[5] AS delivered_yt_comment_count,
       v.c[6] AS delivered_tt_account_count, v.c[7] AS delivered_tt_view_count,
       v.c[8] AS delivered_tt_like_count, v.c[9] AS delivered_tt_comment_count,
       v.c[10] AS delivered_dy_account_count, v.c[11] AS delivered_dy_view_count,
       v.c[12] AS delivered_dy_like_count, v.c[13] AS delivered_dy_comment_count,
       v.c[14] AS delivered_dy_share_count, v.c[15] AS delivered_dy_collect_count
FROM task_days s
LEFT JOIN delivered v ON v.stats_date = s.stats_date AND v.task_id = s.task_id
LEFT JOIN undelivered u ON u.stats_date = s.stats_date AND u.task_id = s.task_id
CROSS JOIN LATERAL (
    SELECT CASE WHEN v.seq IS NULL OR u.seq > v.seq THEN u.status ELSE v.status END AS status,
           CASE WHEN v.seq IS NULL OR u.seq > v.seq THEN u.no_receiver ELSE v.no_receiver END
               AS no_receiver
) l
ORDER BY s.stats_date, s.task_id

-- name: report_session --
-- The report's own transaction: a month of rows sorted in memory, not on disk (a month
-- of 10,000 tasks sorts about 100 MB of stored rows and 80 MB of delivered versions; on
-- disk the report takes half as long again), and no JIT (its compile time alone is
-- seconds, for a query that runs in about one).
SELECT set_config('work_mem', '256MB', true), set_config('jit', 'off', true)

-- name: report_node_days --
-- The report by node: per stats date and agent node ('' unassigned) of [$1, $2], the
-- stored split summed over tasks, how many task-days are in each state ($3 as above),
-- and the split the last delivered versions carried where it was on the wire (none
-- carried it: NULL).
WITH latest AS (
    SELECT DISTINCT ON (d.task_id, d.stats_date)
           d.task_id, d.stats_date, d.status, d.last_error
    FROM dailystats_deliveries d
    WHERE d.stats_date BETWEEN $1 AND $2
    ORDER BY d.task_id, d.stats_date, d.seq DESC
),
delivered AS (
    SELECT DISTINCT ON (d.task_id, d.stats_date) d.task_id, d.stats_date, d.body
    FROM dailystats_deliveries d
    WHERE d.stats_date BETWEEN $1 AND $2 AND d.delivered_at IS NOT NULL
    ORDER BY d.task_id, d.stats_date, d.seq DESC
),
states AS (
    SELECT s.task_id, s.stats_date,
           CASE WHEN l.status IS NULL
                    THEN CASE WHEN t.callback_url IS NULL AND NOT $3 THEN 'no receiver' ELSE 'unsent' END
                WHEN l.status = 'dead' AND l.last_error LIKE 'no receiver%' THEN 'no receiver'
                ELSE l.status END AS state
    FROM task_daily_stats s
    LEFT JOIN drama_tasks t ON t.task_id = s.task_id
    LEFT JOIN latest l ON l.task_id = s.task_id AND l.stats_date = s.stats_date
    WHERE s.stats_date BETWEEN $1 AND $2
),
stored AS (
    SELECT n.stats_date, n.agent_node, count(*) AS tasks,
           count(*) FILTER (WHERE st.state = 'delivered') AS delivered,
           count(*) FILTER (WHERE st.state = 'pending') AS pending,
           count(*) FILTER (WHERE st.state = 'dead') AS dead,
           count(*) FILTER (WHERE st.state = 'unsent') AS unsent,
           count(*) FILTER (WHERE st.state = 'no receiver') AS no_receiver,
           sum(n.total_account_count) AS total_account_count,
           sum(n.total_completion_count) AS total_completion_count,
           sum(n.yt_account_count) AS yt_account_count, sum(n.yt_view_count) AS yt_view_count,
           sum(n.yt_like_count) AS yt_like_count, sum(n.yt_comment_count) AS yt_comment_count,
           sum(n.tt_account_count) AS tt_account_count, sum(n.tt_view_count) AS tt_view_count,
           sum(n.tt_like_count) AS tt_like_count, sum(n.tt_comment_count) AS tt_comment_count,
           sum(n.dy_account_count) AS dy_account_count, sum(n.dy_view_count) AS dy_view_count,
           sum(n.dy_like_count) AS dy_like_count, sum(n.dy_comment_count) AS dy_comment_count,
           sum(n.dy_share_count) AS dy_share_count, sum(n.dy_collect_count) AS dy_collect_count
    FROM dailystats_node_stats n
    LEFT JOIN states st ON st.task_id = n.task_id AND st.stats_date = n.stats_date
    WHERE n.stats_date BETWEEN $1 AND $2
    GROUP BY 1, 2
),
wire AS (
    SELECT v.stats_date, coalesce(x.agent_node, '') AS agent_node,
           sum(coalesce(x.account_count, 0)) AS delivered_total_account_count,
           sum(coalesce(x.yt_account_count, 0)) AS delivered_yt_account_count,
           sum(coalesce(x.yt_view_count, 0)) AS delivered_yt_view_count,
           sum(coalesce(x.yt_like_count, 0)) AS delivered_yt_like_count,
           sum(coalesce(x.yt_comment_count, 0)) AS delivered_yt_comment_count,
           sum(coalesce(x.tt_account_count, 0)) AS delivered_tt_account_count,
           sum(coalesce(x.tt_view_count, 0)) AS delivered_tt_view_count,
           sum(coalesce(x.tt_like_count, 0)) AS delivered_tt_like_count,
           sum(coalesce(x.tt_comment_count, 0)) AS delivered_tt_comment_count,
           sum(coalesce(x.dy_account_count, 0)) AS delivered_dy_account_count,
           sum(coalesce(x.dy_view_count, 0)) AS delivered_dy_view_count,
           sum(coalesce(x.dy_like_count, 0)) AS delivered_dy_like_count,
           sum(coalesce(x.dy_comment_count, 0)) AS delivered_dy_comment_count,
           sum(coalesce(x.dy_share_count, 0)) AS delivered_dy_share_count,
           sum(coalesce(x.dy_collect_count, 0)) AS delivered_dy_collect_count
    FROM delivered v
    CROSS JOIN LATERAL jsonb_to_recordset(
        CASE WHEN jsonb_typeof(v.body::jsonb -> 'stats' -> 0 -> 'nodes') = 'array'
             THEN v.body::jsonb -> 'stats' -> 0 -> 'nodes' ELSE '[]'::jsonb END) AS x(
        agent_node text, account_count bigint, yt_account_count bigint, yt_view_count bigint,
        yt_like_count bigint, yt_comment_count bigint, tt_account_count bigint,
        tt_view_count bigint, tt_like_count bigint, tt_comment_count bigint,
        dy_account_count bigint, dy_view_count bigint, dy_like_count bigint,
        dy_comment_count bigint, dy_share_count bigint, dy_collect_count bigint)
    GROUP BY 1, 2
)
SELECT coalesce(s.stats_date, w.stats_date) AS stats_date,
       coalesce(s.agent_node, w.agent_node) AS agent_node,
       coalesce(s.tasks, 0) AS tasks, coalesce(s.delivered, 0) AS delivered,
       coalesce(s.pending, 0) AS pending, coalesce(s.dead, 0) AS dead,
       coalesce(s.unsent, 0) AS unsent, coalesce(s.no_receiver, 0) AS no_receiver,
       s.total_account_count, s.total_completion_count,
       s.yt_account_count, s.yt_view_count, s.yt_like_count, s.yt_comment_count,
       s.tt_account_count, s.tt_view_count, s.tt_like_count, s.tt_comment_count,
       s.dy_account_count, s.dy_view_count, s.dy_like_count, s.dy_comment_count,
       s.dy_share_count, s.dy_collect_count,
       w.delivered_total_account_count, w.delivered_yt_account_count,
       w.delivered_yt_view_count, w.delivered_yt_like_count, w.delivered_yt_comment_count,
       w.delivered_tt_account_count, w.delivered_tt_view_count, w.delivered_tt_like_count,
       w.delivered_tt_comment_count, w.delivered_dy_account_count, w.delivered_dy_view_count,
       w.delivered_dy_like_count, w.delivered_dy_comment_count, w.delivered_dy_share_count,
       w.delivered_dy_collect_count
FROM stored s
FULL JOIN wire w ON w.stats_date = s.stats_date AND w.agent_node = s.agent_node
ORDER BY 1, coalesce(s.agent_node, w.agent_node) = '', 2

-- name: audit_day_has_video_numbers --
-- Whether any scan stored the video numbers it used for this day ($1).
SELECT EXISTS (SELECT 1 FROM dailystats_day_video_stats WHERE stats_date = $1)

-- name: audit_task_numbers --
-- Each task's numbers now: the scan's own sums of its split (day_task_sums), the row
-- the scan would write.
SELECT n.task_id, dt.project_id, dt.external_task_id, dt.duration,
       n.total_account_count, n.total_completion_count,
       n.yt_account_count, n.yt_view_count, n.yt_like_count, n.yt_comment_count,
       n.tt_account_count, n.tt_view_count, n.tt_like_count, n.tt_comment_count,
       n.dy_account_count, n.dy_view_count, n.dy_like_count, n.dy_comment_count,
       n.dy_share_count, n.dy_collect_count
FROM pg_temp.day_task_sums n
JOIN drama_tasks dt ON dt.task_id = n.task_id

-- name: audit_node_numbers --
SELECT * FROM pg_temp.day_node_stats

-- name: audit_delivered_tasks --
-- Tasks of the day ($1) that have a delivery, with X2C's id for the findings.
SELECT t.task_id, t.external_task_id FROM drama_tasks t
WHERE t.task_id = ANY($1::int[])
