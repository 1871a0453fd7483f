-- Every runtime query of the daemon, each under a "-- name: <name> --" header.
-- Loaded by daemon/queries.py and called by name. Times are UTC (the pool sets it).

-- ======================================================================= migrations

-- name: create_migrations_table --
CREATE TABLE IF NOT EXISTS dailystats_migrations (
    name        TEXT PRIMARY KEY,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
)

-- name: applied_migrations --
SELECT name, applied_at FROM dailystats_migrations ORDER BY name

-- name: record_migration --
INSERT INTO dailystats_migrations (name) VALUES ($1)

-- ======================================================================= scan

-- name: lock_day --
-- Session lock held by the scan of one stats date for its whole length: two daemons
-- never scan the same day at once. The second waits, then scans fresher data.
SELECT pg_advisory_lock(7210135, $1::date - DATE '2000-01-01')

-- name: unlock_day --
SELECT pg_advisory_unlock(7210135, $1::date - DATE '2000-01-01')

-- name: db_now --
SELECT now()

-- name: start_run --
INSERT INTO dailystats_scan_runs (stats_date, trigger) VALUES ($1, $2) RETURNING id

-- name: finish_run --
-- $12: the providers whose stop or budget left videos without fresh stats (NULL:
-- complete); $13: TikHub calls answered 200 and their USD, per endpoint (jsonb).
UPDATE dailystats_scan_runs
SET status = $2, finished_at = now(), task_count = $3, completion_count = $4,
    video_count = $5, videos_missing = $6, videos_fetched = $7, videos_failed = $8,
    deliveries_queued = $9, error = $10, videos_stale = $11,
    incomplete_providers = $12, tikhub_spend = $13::jsonb
WHERE id = $1

-- name: interrupt_stale_runs --
-- Runs left 'running' by a process that died. Called while holding the day's lock, and
-- a run is only recorded once its scan holds that lock, so no live scan is among them.
UPDATE dailystats_scan_runs SET status = 'interrupted', finished_at = now()
WHERE stats_date = $1 AND status = 'running' AND id <> $2

-- name: create_day_completions --
-- One day's completions, classified once (platform, video id, saved counts) into a
-- temporary table that every later step of the scan reads. The classification is
-- called once per row as a scalar (OFFSET 0 keeps the planner from repeating it).
-- short_link: the compared form of a short link, until it is resolved.
CREATE TEMP TABLE day_completions AS
SELECT s.id,
       s.task_id,
       s.user_id,
       (s.k).platform,
       (s.k).video_id,
       (s.k).is_short,
       CASE WHEN (s.k).is_short THEN dailystats_short_link(s.link) END AS short_link,
       dailystats_usable(x.view_count, s.details -> 'view_count') AS views,
       dailystats_usable(x.like_count, s.details -> 'like_count') AS likes,
       dailystats_usable(x.comment_count, s.details -> 'comment_count') AS comments,
       dailystats_usable(x.share_count, s.details -> 'share_count') AS shares,
       dailystats_usable(x.collect_count, s.details -> 'collect_count') AS collects
FROM (
    SELECT ut.id, ut.task_id, ut.user_id, ut.submission_link AS link,
           dailystats_classify(ut.platform, ut.submission_link) AS k,
           dailystats_details(ut.verification_details) AS details
    FROM user_tasks ut
    WHERE ut.submitted_at >= $1 AND ut.submitted_at < $2 AND ut.status = ANY($3::text[])
    OFFSET 0
) s
-- Each count as text: a JSON number and a JSON string of digits read alike; anything
-- else is judged by its JSON value (an integral number such as 100000.0 counts).
LEFT JOIN LATERAL jsonb_to_record(s.details)
    AS x(view_count text, like_count text, comment_count text, share_count text,
         collect_count text) ON true

-- name: analyze_day_completions --
ANALYZE pg_temp.day_completions

-- name: drop_day_completions --
DROP TABLE IF EXISTS pg_temp.day_completions

-- name: unresolved_short_links --
SELECT DISTINCT c.short_link AS link, c.platform
FROM pg_temp.day_completions c
WHERE c.is_short
  AND NOT EXISTS (SELECT 1 FROM dailystats_short_links s WHERE s.link = c.short_link)

-- name: save_short_link --
INSERT INTO dailystats_short_links (link, platform, video_id) VALUES ($1, $2, $3)
ON CONFLICT (link) DO UPDATE
SET platform = EXCLUDED.platform, video_id = EXCLUDED.video_id, resolved_at = now()

-- name: resolve_day_short_links --
-- Give short-link completions the video their link resolved to (same platform only).
-- A resolved link no longer groups its completions: short_link stays set only while
-- unresolved (day_videos counts one video per unresolved link).
UPDATE pg_temp.day_completions c
SET video_id = CASE WHEN s.platform = c.platform THEN s.video_id END, short_link = NULL
FROM dailystats_short_links s
WHERE c.is_short AND s.link = c.short_link

-- name: create_videos_to_fetch --
-- Each distinct video of the day whose stats must come from its platform: none of its
-- completions saved a usable count (or the policy prefers live stats, $1), and nothing
-- fresh is cached since $2. A video found deleted or private is not asked for again
-- for a day, however short the freshness setting; one whose last fetch was partial is
-- asked again. Kept in a temporary table and read
-- in pages, so no transaction stays open while the APIs answer.
CREATE TEMP TABLE day_videos_to_fetch AS
SELECT c.platform, c.video_id
FROM pg_temp.day_completions c
WHERE c.video_id IS NOT NULL AND c.platform <> 'other'
GROUP BY c.platform, c.video_id
HAVING ($1 OR bool_and(num_nonnulls(c.views, c.likes, c.comments,
                                    CASE WHEN c.platform = 'dy' THEN c.shares END,
                                    CASE WHEN c.platform = 'dy' THEN c.collects END) = 0))
   AND NOT EXISTS (SELECT 1 FROM dailystats_video_stats s
                   WHERE s.platform = c.platform AND s.video_id = c.video_id
                     AND ((s.fetched_at >= $2 AND NOT s.partial)
                          OR (s.status = 'gone' AND s.fetched_at >= now() - interval '1 day')))

-- name: index_videos_to_fetch --
ALTER TABLE pg_temp.day_videos_to_fetch ADD PRIMARY KEY (platform, video_id)

-- name: next_videos_to_fetch --
SELECT platform, video_id FROM pg_temp.day_videos_to_fetch
WHERE (platform, video_id) > ($1, $2)
ORDER BY platform, video_id
LIMIT $3

-- name: drop_videos_to_fetch --
DROP TABLE IF EXISTS pg_temp.day_videos_to_fetch

-- name: save_video_stats --
-- Fetched stats into the cache. A count this fetch did not report (NULL) keeps the one
-- known before, so a Douyin count split over two calls comes from the freshest source
-- that has it, and a video found gone keeps its last known counts (spec section 3).
-- $9 partial: the fetch left a count the platform always reports unreported.
INSERT INTO dailystats_video_stats AS s
    (platform, video_id, status, view_count, like_count, comment_count, share_count,
     collect_count, partial, fetched_at)
SELECT * , now() FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                             $6::bigint[], $7::bigint[], $8::bigint[], $9::boolean[])
ON CONFLICT (platform, video_id) DO UPDATE
SET status = EXCLUDED.status,
    view_count = coalesce(EXCLUDED.view_count, s.view_count),
    like_count = coalesce(EXCLUDED.like_count, s.like_count),
    comment_count = coalesce(EXCLUDED.comment_count, s.comment_count),
    share_count = coalesce(EXCLUDED.share_count, s.share_count),
    collect_count = coalesce(EXCLUDED.collect_count, s.collect_count),
    partial = EXCLUDED.partial,
    fetched_at = EXCLUDED.fetched_at

-- name: create_day_videos --
-- Each video of the day once per task (spec section 3: the same video however its link
-- was written; an unresolved short link, in its compared form, is one video; a
-- completion whose link names no video stands alone), with where its counts come from:
--   saved       the largest usable counts its completions saved;
--   cache       fresh stats fetched before this scan;
--   live        stats fetched by this scan;
--   last_known  cached stats however old: stale, partial, or of a video since gone,
--               so an outage, a stop or a budget never lowers numbers already sent;
--   missing     none of these: 0, counted, asked again at the next scan.
-- Order: saved, cache/live, last_known, missing; live_first ($1): cache/live,
-- last_known, saved, missing (its numbers came from the APIs, so the last known ones
-- keep them). $2 freshness cutoff, $3 start of this scan (NULL: no live source).
CREATE TEMP TABLE day_videos AS
WITH videos AS (
    SELECT c.task_id, c.platform, c.video_id, c.short_link,
           CASE WHEN c.video_id IS NULL AND c.short_link IS NULL THEN c.id END AS alone_id,
           count(*) AS completions,
           max(c.views) AS saved_views, max(c.likes) AS saved_likes,
           max(c.comments) AS saved_comments, max(c.shares) AS saved_shares,
           max(c.collects) AS saved_collects,
           bool_or(num_nonnulls(c.views, c.likes, c.comments,
                                CASE WHEN c.platform = 'dy' THEN c.shares END,
                                CASE WHEN c.platform = 'dy' THEN c.collects END) > 0) AS has_saved
    FROM pg_temp.day_completions c
    WHERE c.platform <> 'other'
    GROUP BY 1, 2, 3, 4, 5
),
cached AS (
    SELECT v.*, s.status AS cache_status, s.fetched_at, s.partial,
           s.view_count AS cached_views, s.like_count AS cached_likes,
           s.comment_count AS cached_comments, s.share_count AS cached_shares,
           s.collect_count AS cached_collects,
           coalesce(s.status = 'ok' AND NOT s.partial AND s.fetched_at >= $2, false) AS fresh,
           num_nonnulls(s.view_count, s.like_count, s.comment_count,
                        CASE WHEN v.platform = 'dy' THEN s.share_count END,
                        CASE WHEN v.platform = 'dy' THEN s.collect_count END) > 0 AS known
    FROM videos v
    LEFT JOIN dailystats_video_stats s ON s.platform = v.platform AND s.video_id = v.video_id
),
sourced AS (
    SELECT c.*,
           CASE WHEN c.fresh AND ($1 OR NOT c.has_saved) THEN
                     CASE WHEN c.fetched_at >= $3 THEN 'live' ELSE 'cache' END
                WHEN c.has_saved AND NOT $1 THEN 'saved'
                WHEN c.known THEN 'last_known'
                WHEN c.has_saved THEN 'saved'
                ELSE 'missing' END AS source
    FROM cached c
)
SELECT s.*,
       -- Last known: a count no fetch ever reported (one of two calls failed) comes from
       -- the saved details when they have it: each count from the freshest source.
       CASE s.source WHEN 'saved' THEN coalesce(s.saved_views, 0) WHEN 'missing' THEN 0 WHEN 'last_known' THEN coalesce(s.cached_views, s.saved_views, 0) ELSE coalesce(s.cached_views, 0) END AS views,
       CASE s.source WHEN 'saved' THEN coalesce(s.saved_likes, 0) WHEN 'missing' THEN 0 WHEN 'last_known' THEN coalesce(s.cached_likes, s.saved_likes, 0) ELSE coalesce(s.cached_likes, 0) END AS likes,
       CASE s.source WHEN 'saved' THEN coalesce(s.saved_comments, 0) WHEN 'missing' THEN 0 WHEN 'last_known' THEN coalesce(s.cached_comments, s.saved_comments, 0) ELSE coalesce(s.cached_comments, 0) END AS comments,
       CASE s.source WHEN 'saved' THEN coalesce(s.saved_shares, 0) WHEN 'missing' THEN 0 WHEN 'last_known' THEN coalesce(s.cached_shares, s.saved_shares, 0) ELSE coalesce(s.cached_shares, 0) END AS shares,
       CASE s.source WHEN 'saved' THEN coalesce(s.saved_collects, 0) WHEN 'missing' THEN 0 WHEN 'last_known' THEN coalesce(s.cached_collects, s.saved_collects, 0) ELSE coalesce(s.cached_collects, 0) END AS collects
FROM sourced s

-- name: drop_day_videos --
DROP TABLE IF EXISTS pg_temp.day_videos

-- name: upsert_day_stats --
-- The numbers of spec section 3 for every task with completions on the day, upserted
-- into task_daily_stats from day_videos (each video's chosen counts). A row whose
-- numbers did not change is not touched. $1 stats date.
WITH video_sums AS (
    SELECT task_id,
           count(*) AS video_count,
           count(*) FILTER (WHERE source = 'missing') AS videos_missing,
           count(*) FILTER (WHERE source = 'last_known') AS videos_stale,
           sum(views) FILTER (WHERE platform = 'yt') AS yt_views,
           sum(likes) FILTER (WHERE platform = 'yt') AS yt_likes,
           sum(comments) FILTER (WHERE platform = 'yt') AS yt_comments,
           sum(views) FILTER (WHERE platform = 'tt') AS tt_views,
           sum(likes) FILTER (WHERE platform = 'tt') AS tt_likes,
           sum(comments) FILTER (WHERE platform = 'tt') AS tt_comments,
           sum(views) FILTER (WHERE platform = 'dy') AS dy_views,
           sum(likes) FILTER (WHERE platform = 'dy') AS dy_likes,
           sum(comments) FILTER (WHERE platform = 'dy') AS dy_comments,
           sum(shares) FILTER (WHERE platform = 'dy') AS dy_shares,
           sum(collects) FILTER (WHERE platform = 'dy') AS dy_collects
    FROM pg_temp.day_videos
    GROUP BY task_id
),
accounts AS (
    SELECT task_id,
           count(*) AS completions,
           count(DISTINCT user_id) AS accounts,
           count(DISTINCT user_id) FILTER (WHERE platform = 'yt') AS yt_accounts,
           count(DISTINCT user_id) FILTER (WHERE platform = 'tt') AS tt_accounts,
           count(DISTINCT user_id) FILTER (WHERE platform = 'dy') AS dy_accounts
    FROM pg_temp.day_completions
    GROUP BY task_id
),
upserted AS (
    INSERT INTO task_daily_stats AS t (
        task_id, project_id, external_task_id, stats_date,
        total_account_count, total_completion_count,
        yt_account_count, yt_view_count, yt_like_count, yt_comment_count,
        tt_account_count, tt_view_count, tt_like_count, tt_comment_count,
        dy_account_count, dy_view_count, dy_like_count, dy_comment_count,
        dy_share_count, dy_collect_count)
    SELECT a.task_id, dt.project_id, dt.external_task_id, $1,
           a.accounts, a.completions,
           -- Sums saturate at the BIGINT ceiling instead of failing the scan.
           a.yt_accounts, dailystats_clamp(s.yt_views), dailystats_clamp(s.yt_likes), dailystats_clamp(s.yt_comments),
           a.tt_accounts, dailystats_clamp(s.tt_views), dailystats_clamp(s.tt_likes), dailystats_clamp(s.tt_comments),
           a.dy_accounts, dailystats_clamp(s.dy_views), dailystats_clamp(s.dy_likes), dailystats_clamp(s.dy_comments),
           dailystats_clamp(s.dy_shares), dailystats_clamp(s.dy_collects)
    FROM accounts a
    JOIN drama_tasks dt ON dt.task_id = a.task_id
    LEFT JOIN video_sums s ON s.task_id = a.task_id
    ON CONFLICT (task_id, stats_date) DO UPDATE SET
        project_id = EXCLUDED.project_id, external_task_id = EXCLUDED.external_task_id,
        total_account_count = EXCLUDED.total_account_count,
        total_completion_count = EXCLUDED.total_completion_count,
        yt_account_count = EXCLUDED.yt_account_count, yt_view_count = EXCLUDED.yt_view_count,
        yt_like_count = EXCLUDED.yt_like_count, yt_comment_count = EXCLUDED.yt_comment_count,
        tt_account_count = EXCLUDED.tt_account_count, tt_view_count = EXCLUDED.tt_view_count,
        tt_like_count = EXCLUDED.tt_like_count, tt_comment_count = EXCLUDED.tt_comment_count,
        dy_account_count = EXCLUDED.dy_account_count, dy_view_count = EXCLUDED.dy_view_count,
        dy_like_count = EXCLUDED.dy_like_count, dy_comment_count = EXCLUDED.dy_comment_count,
        dy_share_count = EXCLUDED.dy_share_count, dy_collect_count = EXCLUDED.dy_collect_count,
        updated_at = CURRENT_TIMESTAMP
    WHERE (t.project_id, t.external_task_id, t.total_account_count, t.total_completion_count,
           t.yt_account_count, t.yt_view_count, t.yt_like_count, t.yt_comment_count,
           t.tt_account_count, t.tt_view_count, t.tt_like_count, t.tt_comment_count,
           t.dy_account_count, t.dy_view_count, t.dy_like_count, t.dy_comment_count,
           t.dy_share_count, t.dy_collect_count)
          IS DISTINCT FROM
          (EXCLUDED.project_id, EXCLUDED.external_task_id, EXCLUDED.total_account_count,
           EXCLUDED.total_completion_count,
           EXCLUDED.yt_account_count, EXCLUDED.yt_view_count, EXCLUDED.yt_like_count, EXCLUDED.yt_comment_count,
           EXCLUDED.tt_account_count, EXCLUDED.tt_view_count, EXCLUDED.tt_like_count, EXCLUDED.tt_comment_count,
           EXCLUDED.dy_account_count, EXCLUDED.dy_view_count, EXCLUDED.dy_like_count, EXCLUDED.dy_comment_count,
           EXCLUDED.dy_share_count, EXCLUDED.dy_collect_count)
    RETURNING 1
)
SELECT (SELECT count(*) FROM accounts)::int AS task_count,
       (SELECT coalesce(sum(completions), 0) FROM accounts)::int AS completion_count,
       (SELECT coalesce(sum(video_count), 0) FROM video_sums)::int AS video_count,
       (SELECT coalesce(sum(videos_missing), 0) FROM video_sums)::int AS videos_missing,
       (SELECT coalesce(sum(videos_stale), 0) FROM video_sums)::int AS videos_stale,
       (SELECT count(*) FROM upserted)::int AS rows_changed

-- name: zero_vanished_tasks --
-- A task that had completions at an earlier scan of this day and has none now (they
-- were rejected, say) keeps its row, with zero counts, so X2C hears the correction.
UPDATE task_daily_stats t SET
    total_account_count = 0, total_completion_count = 0,
    yt_account_count = 0, yt_view_count = 0, yt_like_count = 0, yt_comment_count = 0,
    tt_account_count = 0, tt_view_count = 0, tt_like_count = 0, tt_comment_count = 0,
    dy_account_count = 0, dy_view_count = 0, dy_like_count = 0, dy_comment_count = 0,
    dy_share_count = 0, dy_collect_count = 0, updated_at = CURRENT_TIMESTAMP
WHERE t.stats_date = $1
  AND NOT EXISTS (SELECT 1 FROM pg_temp.day_completions c WHERE c.task_id = t.task_id)
  AND (t.total_completion_count <> 0 OR t.total_account_count <> 0)

-- ======================================================================= status

-- name: recent_runs --
SELECT id, stats_date, trigger, status, started_at, finished_at, task_count,
       completion_count, video_count, videos_missing, videos_fetched, videos_failed,
       deliveries_queued, error, videos_stale
FROM dailystats_scan_runs ORDER BY started_at DESC, id DESC LIMIT $1

-- name: succeeded_days --
SELECT DISTINCT stats_date FROM dailystats_scan_runs
WHERE status = 'succeeded' AND stats_date BETWEEN $1 AND $2

-- ======================================================================= deliveries
-- The webhook outbox (daemon/webhook/outbox.py). A delivery is one payload version of
-- one task and day; "latest" means highest seq.

-- name: deliveries_enqueue_candidates --
-- Every stats row of a day with what its payload is made of, and the url and body of
-- the latest delivery of that task and day (NULL: none yet).
SELECT s.task_id,
       CASE WHEN t.task_id IS NULL THEN s.project_id ELSE t.project_id END AS project_id,
       CASE WHEN t.task_id IS NULL THEN s.external_task_id ELSE t.external_task_id END
           AS external_task_id,
       t.duration,
       t.callback_url,
       s.total_account_count, s.total_completion_count,
       s.yt_account_count, s.yt_view_count, s.yt_like_count, s.yt_comment_count,
       s.tt_account_count, s.tt_view_count, s.tt_like_count, s.tt_comment_count,
       s.dy_account_count, s.dy_view_count, s.dy_like_count, s.dy_comment_count,
       s.dy_share_count, s.dy_collect_count,
       latest.url AS latest_url,
       latest.url_source AS latest_url_source,
       latest.body AS latest_body
FROM task_daily_stats s
LEFT JOIN drama_tasks t ON t.task_id = s.task_id
LEFT JOIN LATERAL (
    SELECT d.url, d.url_source, d.body
    FROM dailystats_deliveries d
    WHERE d.task_id = s.task_id AND d.stats_date = s.stats_date
    ORDER BY d.seq DESC
    LIMIT 1
) latest ON TRUE
WHERE s.stats_date = $1
ORDER BY s.task_id

-- name: deliveries_supersede_pending --
-- Before a new version is queued: the older one still waiting will never be sent. One
-- already in flight keeps its claimed_until, so no newer version is claimed before it
-- has finished (see deliveries_claim).
UPDATE dailystats_deliveries
SET status = 'superseded', updated_at = now()
WHERE status = 'pending' AND stats_date = $1 AND task_id = ANY($2::int[])

-- name: deliveries_insert --
-- $5 url_source per delivery: 'task' (the task's own callback_url) or 'default'.
INSERT INTO dailystats_deliveries (task_id, stats_date, url, body, next_attempt_at, url_source)
SELECT u.task_id, $1::date, u.url, u.body, now(), u.url_source
FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) AS u(task_id, url, body, url_source)

-- name: deliveries_reset_stats_webhook --
-- Runs before deliveries_supersede_pending: task_daily_stats rows are locked before
-- dailystats_deliveries rows, in the scan and in the sender alike (no deadlock).
UPDATE task_daily_stats
SET webhook_sent = FALSE, webhook_retry_count = 0
WHERE stats_date = $1 AND task_id = ANY($2::int[])

-- name: deliveries_clock --
SELECT now()

-- name: deliveries_claim --
-- $1 limit, $2 lease seconds, $3 force (due or not), $4 cutoff (NULL: none): only rows
-- last touched before it, so one pass tries each delivery at most once.
-- A delivery is not claimed while another version of its task and day is in flight:
-- an older version must never land after a newer one.
WITH due AS (
    SELECT d.id
    FROM dailystats_deliveries d
    WHERE d.status = 'pending'
      AND ($3::boolean OR d.next_attempt_at <= now())
      AND (d.claimed_until IS NULL OR d.claimed_until <= now())
      AND ($4::timestamptz IS NULL OR d.updated_at < $4::timestamptz)
      AND NOT EXISTS (
          SELECT 1
          FROM dailystats_deliveries o
          WHERE o.task_id = d.task_id
            AND o.stats_date = d.stats_date
            AND o.id <> d.id
            AND o.claimed_until > now()
      )
    ORDER BY d.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE dailystats_deliveries d
SET claimed_until = now() + make_interval(secs => $2::float8),
    claim_token = gen_random_uuid(),
    updated_at = now()
FROM due
WHERE d.id = due.id
RETURNING d.id, d.task_id, d.stats_date, d.url, d.url_source, d.body, d.attempts,
          d.claim_token,
          (SELECT t.callback_secret FROM drama_tasks t WHERE t.task_id = d.task_id)
              AS callback_secret

-- name: deliveries_record_attempt --
-- Run in one transaction after deliveries_lock_stats_row, which locks the stats row
-- first: the scan locks task_daily_stats before dailystats_deliveries, and so must we.
-- One statement: the delivery and, when it is still the latest
-- version of its task and day (not superseded meanwhile), the seed's columns in
-- task_daily_stats. Nothing is written when another sender holds the claim now.
-- $1 id, $2 claim token, $3 new status, $4 next attempt, $5 status code, $6 error,
-- $7 response, $8 webhook_response for task_daily_stats.
WITH upd AS (
    UPDATE dailystats_deliveries d
    SET attempts = d.attempts + 1,
        status = CASE WHEN d.status = 'superseded' THEN 'superseded' ELSE $3::text END,
        next_attempt_at = COALESCE($4::timestamptz, d.next_attempt_at),
        last_status_code = $5::int,
        last_error = $6::text,
        last_response = $7::text,
        delivered_at = CASE WHEN $3::text = 'delivered' THEN now() ELSE d.delivered_at END,
        last_attempt_at = now(),
        claimed_until = NULL,
        claim_token = NULL,
        updated_at = now()
    WHERE d.id = $1 AND d.claim_token = $2
    RETURNING d.task_id, d.stats_date, d.status, d.attempts
),
stats AS (
    UPDATE task_daily_stats s
    SET webhook_sent = (upd.status = 'delivered'),
        webhook_sent_at = CASE WHEN upd.status = 'delivered'
                               THEN now() AT TIME ZONE 'UTC' ELSE s.webhook_sent_at END,
        webhook_response = $8::text,
        -- failed attempts so far: every attempt but a successful last one
        webhook_retry_count = upd.attempts - CASE WHEN upd.status = 'delivered' THEN 1 ELSE 0 END
    FROM upd
    WHERE s.task_id = upd.task_id AND s.stats_date = upd.stats_date
      AND upd.status <> 'superseded'
    RETURNING s.id
)
SELECT upd.status, upd.attempts, (SELECT count(*) FROM stats) AS stats_rows
FROM upd

-- name: deliveries_replay --
-- Dead deliveries back to pending, due now, with a fresh attempt budget, sent to the
-- task's current callback_url when it has one (the operator may have fixed it). One a
-- newer version of its task and day replaced is left dead and reported (replaced).
-- $1 one id (NULL: any), $2 stats_date from (NULL: any).
WITH target AS (
    SELECT d.id, d.task_id, d.stats_date,
           EXISTS (
               SELECT 1
               FROM dailystats_deliveries n
               WHERE n.task_id = d.task_id AND n.stats_date = d.stats_date AND n.seq > d.seq
           ) AS replaced
    FROM dailystats_deliveries d
    WHERE d.status = 'dead'
      AND ($1::uuid IS NULL OR d.id = $1::uuid)
      AND ($2::date IS NULL OR d.stats_date >= $2::date)
    FOR UPDATE OF d
),
upd AS (
    UPDATE dailystats_deliveries d
    SET status = 'pending',
        attempts = 0,
        next_attempt_at = now(),
        claimed_until = NULL,
        claim_token = NULL,
        url = COALESCE((SELECT t.callback_url FROM drama_tasks t WHERE t.task_id = d.task_id),
                       d.url),
        -- re-targeted to the task's own URL: its own secret signs from now on
        url_source = CASE WHEN (SELECT t.callback_url FROM drama_tasks t
                                WHERE t.task_id = d.task_id) IS NOT NULL
                          THEN 'task' ELSE d.url_source END,
        updated_at = now()
    FROM target
    WHERE d.id = target.id AND NOT target.replaced
    RETURNING d.id
)
SELECT target.id, target.task_id, target.stats_date, target.replaced
FROM target
ORDER BY target.stats_date, target.task_id

-- name: deliveries_get --
SELECT id, task_id, stats_date, url, body, status, attempts, next_attempt_at, claimed_until,
       last_status_code, last_error, last_response, created_at, updated_at, delivered_at,
       last_attempt_at, seq
FROM dailystats_deliveries
WHERE id = $1

-- name: deliveries_count_by_status --
SELECT status,
       count(*) AS n,
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()) AS due
FROM dailystats_deliveries
GROUP BY status

-- name: deliveries_oldest_pending --
SELECT id, task_id, stats_date, next_attempt_at, attempts, created_at, last_error
FROM dailystats_deliveries
WHERE status = 'pending'
ORDER BY created_at, seq
LIMIT 1

-- ======================================================================= provider state
-- Provider stops and TikHub spend (spec section 5; migration 0007).

-- name: provider_stop_active --
SELECT reason, until, key_fingerprint, last_probe_at
FROM dailystats_provider_stops
WHERE provider = $1 AND (until IS NULL OR until > now());

-- name: provider_stop_lift_changed_key --
-- A stop earned with another key (401/402) is lifted as soon as the key changes.
DELETE FROM dailystats_provider_stops
WHERE provider = $1 AND until IS NULL AND key_fingerprint IS DISTINCT FROM $2;

-- name: provider_stop_claim_probe --
-- At most one probe an hour, whoever asks (the stop itself counts as the first try).
UPDATE dailystats_provider_stops
SET last_probe_at = now()
WHERE provider = $1 AND until IS NULL
  AND coalesce(last_probe_at, stopped_at) <= now() - make_interval(secs => $2)
RETURNING provider;

-- name: provider_stop_save --
-- A stop until cleared (until NULL) is never replaced by a timed one (the budget).
INSERT INTO dailystats_provider_stops AS s (provider, reason, until, key_fingerprint)
VALUES ($1, $2, $3, $4)
ON CONFLICT (provider) DO UPDATE
SET reason = EXCLUDED.reason, until = EXCLUDED.until, stopped_at = now(),
    key_fingerprint = EXCLUDED.key_fingerprint, last_probe_at = NULL
WHERE s.until IS NOT NULL OR EXCLUDED.until IS NULL;

-- name: provider_stop_clear --
DELETE FROM dailystats_provider_stops WHERE provider = $1 RETURNING provider;

-- name: provider_stops_list --
SELECT provider, reason, stopped_at, until, last_probe_at,
       (until IS NULL OR until > now()) AS active
FROM dailystats_provider_stops
ORDER BY provider;

-- name: tikhub_reserve --
-- $1 day, $2 price, $3 budget: reserves only while the total stays within the budget.
INSERT INTO dailystats_tikhub_budget AS b (spend_date, reserved)
SELECT $1, $2 WHERE $2::numeric <= $3::numeric
ON CONFLICT (spend_date) DO UPDATE
SET reserved = b.reserved + EXCLUDED.reserved
WHERE b.reserved + EXCLUDED.reserved <= $3::numeric
RETURNING reserved;

-- name: tikhub_release --
UPDATE dailystats_tikhub_budget
SET reserved = greatest(reserved - $2::numeric, 0)
WHERE spend_date = $1;

-- name: tikhub_spent --
INSERT INTO dailystats_tikhub_spend AS s (spend_date, endpoint, calls, usd)
VALUES ($1, $2, 1, $3)
ON CONFLICT (spend_date, endpoint) DO UPDATE
SET calls = s.calls + 1, usd = s.usd + EXCLUDED.usd;

-- name: tikhub_spend_of_day --
SELECT endpoint, calls, usd FROM dailystats_tikhub_spend
WHERE spend_date = $1
ORDER BY endpoint;

-- name: runs_provider_state --
SELECT id, incomplete_providers, tikhub_spend
FROM dailystats_scan_runs
WHERE id = ANY($1::bigint[]);

-- ===== webhook: lock order (D1)

-- name: deliveries_lock_stats_row --
-- The sender's first statement when it records an attempt: the stats row before the
-- delivery row, the order the scan's transaction takes them in.
-- $1 task id, $2 stats date.
SELECT 1
FROM task_daily_stats
WHERE task_id = $1 AND stats_date = $2
FOR UPDATE

-- ======================================================================= lifecycle
-- The daemon's own upkeep (issue 8): look-back, day lock, metrics, retention.

-- name: lookback_days --
-- Days from $1 to $2 the daemon owes a scan: no successful scan at all ('missed'), or a
-- latest successful scan that left providers incomplete none of which is stopped any
-- more ('incomplete'; a stop is active while until IS NULL OR until > now()).
WITH days AS (
    SELECT d::date AS stats_date FROM generate_series($1::date, $2::date, interval '1 day') d
),
latest AS (
    SELECT DISTINCT ON (r.stats_date) r.stats_date, r.incomplete_providers
    FROM dailystats_scan_runs r
    WHERE r.status = 'succeeded' AND r.stats_date BETWEEN $1::date AND $2::date
    ORDER BY r.stats_date, r.id DESC
)
SELECT days.stats_date,
       CASE WHEN latest.stats_date IS NULL THEN 'missed' ELSE 'incomplete' END AS reason
FROM days
LEFT JOIN latest ON latest.stats_date = days.stats_date
WHERE latest.stats_date IS NULL
   OR (cardinality(latest.incomplete_providers) > 0
       AND NOT EXISTS (
           SELECT 1 FROM dailystats_provider_stops p
           WHERE p.provider = ANY(latest.incomplete_providers)
             AND (p.until IS NULL OR p.until > now())))
ORDER BY days.stats_date

-- name: set_local_lock_timeout --
-- One bounded try at a lock: lock_timeout ($1, milliseconds) for the rest of the
-- caller's transaction only, and a statement_timeout just above it, so the try ends as
-- a lock timeout whatever the pool's own. A session advisory lock outlives the try.
SELECT set_config('lock_timeout', $1::int::text, true),
       set_config('statement_timeout', ($1::int + 1000)::text, true)

-- name: metrics_state --
-- What the metrics say about the database, read again after a restart.
SELECT (SELECT extract(epoch FROM max(finished_at))::float8 FROM dailystats_scan_runs
        WHERE status = 'succeeded') AS last_success,
       (SELECT count(*) FROM dailystats_deliveries WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM dailystats_deliveries WHERE status = 'dead') AS dead

-- name: prune_scan_runs --
-- Finished runs started before $1, except each day's latest (status and the look-back
-- read it). $2 rows at most per call.
DELETE FROM dailystats_scan_runs
WHERE id IN (
    SELECT r.id FROM dailystats_scan_runs r
    WHERE r.started_at < $1 AND r.status <> 'running'
      AND EXISTS (SELECT 1 FROM dailystats_scan_runs n
                  WHERE n.stats_date = r.stats_date AND n.id > r.id)
    LIMIT $2
)

-- name: prune_video_stats --
-- Cached stats not fetched again since $1: no scan of a recent day needed them.
DELETE FROM dailystats_video_stats
WHERE (platform, video_id) IN (
    SELECT platform, video_id FROM dailystats_video_stats WHERE fetched_at < $1 LIMIT $2
)

-- name: prune_short_links --
DELETE FROM dailystats_short_links
WHERE link IN (SELECT link FROM dailystats_short_links WHERE resolved_at < $1 LIMIT $2)

-- name: prune_deliveries --
-- Superseded and delivered versions last touched before $1 that a newer version of
-- their task and day replaced. Kept: pending and dead ones (replay), and the latest
-- version of each task and day (the outbox compares new payloads with it).
DELETE FROM dailystats_deliveries
WHERE id IN (
    SELECT d.id FROM dailystats_deliveries d
    WHERE d.status IN ('superseded', 'delivered') AND d.updated_at < $1
      AND EXISTS (SELECT 1 FROM dailystats_deliveries n
                  WHERE n.task_id = d.task_id AND n.stats_date = d.stats_date
                    AND n.seq > d.seq)
    LIMIT $2
)

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
