-- Named queries of daemon.scan: the scan of one day: its run record, the day lock, classification, short links, video stats, the upsert.
-- Each under a "-- name: <name> --" header, loaded by daemon/store/queries.py and called by name.
-- Times are UTC (the pool sets it).

-- ======================================================================= scan

-- name: lock_day --
-- Session lock held by the scan of one stats date for its whole length: two daemons
-- never scan the same day at once. The second waits, then scans fresher data.
SELECT pg_advisory_lock(7210135, $1::date - DATE '2000-01-01')

-- name: unlock_day --
SELECT pg_advisory_unlock(7210135, $1::date - DATE '2000-01-01')

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
-- One day's completions classified straight from user_tasks, the columns of
-- build_day_completions: the audit's (it may write no persistent row, so it cannot
-- bring the stored classification up to date). The same classification the scan
-- stores (dailystats_classified_rows: its links read from dailystats_links, a link not
-- there yet classified in place), read by parallel workers. agent_node: the user's node
-- now (spec section 9), trimmed; NULL, empty and blank are one "unassigned" node, NULL
-- here.
CREATE TEMP TABLE day_completions AS
SELECT r.id, r.task_id, r.user_id, r.platform, r.video_id, r.is_short, r.short_link,
       r.views, r.likes, r.comments, r.shares, r.collects, r.saved_at,
       dailystats_agent_node(u.agent_node) AS agent_node, r.submitted_at
FROM dailystats_classified_rows($1, $2, $3::text[]) r
LEFT JOIN users u ON u.user_id = r.user_id

-- name: analyze_day_completions --
ANALYZE pg_temp.day_completions

-- name: drop_day_completions --
DROP TABLE IF EXISTS pg_temp.day_completions

-- name: create_day_groups --
-- What the aggregation reads of the day's completions of the three platforms: grouped
-- per task and video as classified, before short links are resolved
-- (resolve_day_short_links renames their groups, merge_day_groups merges them). A
-- video's completions are one group; an unresolved short link's and a lone
-- completion's one group each (row_id), so a link resolving to another platform's
-- video leaves each of its completions alone, as a lone completion is.
CREATE TEMP TABLE day_groups AS
SELECT c.task_id, c.platform, c.video_id, c.is_short, c.short_link,
       CASE WHEN c.video_id IS NULL OR c.is_short THEN c.id END AS row_id,
       count(*) AS completions,
       max(c.views) AS views, max(c.likes) AS likes, max(c.comments) AS comments,
       max(c.shares) AS shares, max(c.collects) AS collects,
       -- usable saved counts (Douyin's shares and collects count too), and when saved
       bool_or(h.holds) AS holds, max(c.saved_at) FILTER (WHERE h.holds) AS saved_at,
       -- its first completion: the least (submitted_at, id) (ids are unique, so the node
       -- never decides). min over one-element arrays compares them as records and needs
       -- no sort per group, as an ordered array_agg does (1.1 s instead of 1.8 s for a
       -- million rows), and lets the grouping hash.
       (min(ARRAY[(c.submitted_at, c.id, coalesce(c.agent_node, ''))::dailystats_first]))[1]
           AS first
FROM pg_temp.day_completions c
CROSS JOIN LATERAL (
    SELECT num_nonnulls(c.views, c.likes, c.comments,
                        CASE WHEN c.platform = 'dy' THEN c.shares END,
                        CASE WHEN c.platform = 'dy' THEN c.collects END) > 0 AS holds) h
WHERE c.platform <> 'other'
GROUP BY 1, 2, 3, 4, 5, 6

-- name: merge_day_groups --
-- After resolve_day_short_links: the groups that name one video in one task become one
-- (a short link's completions, once its answer names a video of the task's, or while
-- it has none: its compared form), by the least first completion; a lone completion,
-- and one whose link named another platform's video, stays alone.
WITH keys AS (
    SELECT DISTINCT task_id, platform, coalesce(video_id, 's:' || short_link) AS video_key
    FROM pg_temp.day_groups
    WHERE is_short AND (video_id IS NOT NULL OR short_link IS NOT NULL)
),
merged AS (
    DELETE FROM pg_temp.day_groups g USING keys k
    WHERE g.task_id = k.task_id AND g.platform = k.platform
      AND coalesce(g.video_id, 's:' || g.short_link) = k.video_key
    RETURNING g.*
)
INSERT INTO pg_temp.day_groups
SELECT task_id, platform, video_id, bool_or(is_short), short_link, NULL, sum(completions),
       max(views), max(likes), max(comments), max(shares), max(collects), bool_or(holds),
       max(saved_at), (min(ARRAY[first]))[1]
FROM merged
GROUP BY task_id, platform, video_id, short_link

-- name: create_day_accounts --
-- The rest of what the split by node reads of the day's completions (all platforms):
-- per task and node, its completions and distinct accounts, in all and per platform.
-- Each task, node and user once first, then counted: one grouping instead of a sort
-- per distinct count and group (0.49 s instead of 0.66 s for a million rows).
CREATE TEMP TABLE day_accounts AS
SELECT task_id, agent_node, sum(n)::bigint AS completions, count(*) AS accounts,
       count(*) FILTER (WHERE yt) AS yt_accounts, count(*) FILTER (WHERE tt) AS tt_accounts,
       count(*) FILTER (WHERE dy) AS dy_accounts
FROM (SELECT task_id, coalesce(agent_node, '') AS agent_node, user_id, count(*) AS n,
             bool_or(platform = 'yt') AS yt, bool_or(platform = 'tt') AS tt,
             bool_or(platform = 'dy') AS dy
      FROM pg_temp.day_completions
      GROUP BY 1, 2, 3) u
GROUP BY 1, 2

-- name: drop_day_groups --
DROP TABLE IF EXISTS pg_temp.day_groups, pg_temp.day_accounts

-- name: day_groups_seq --
-- The change counter the day's stored groups stand for, when it is the day's now.
SELECT groups_seq FROM dailystats_classified_days
WHERE stats_date = $1 AND groups_seq = change_seq

-- name: load_day_groups --
CREATE TEMP TABLE day_groups AS
SELECT task_id, platform, video_id, is_short, short_link, row_id, completions, views, likes,
       comments, shares, collects, holds, saved_at, first
FROM dailystats_day_groups WHERE stats_date = $1

-- name: load_day_accounts --
CREATE TEMP TABLE day_accounts AS
SELECT task_id, agent_node, completions, accounts, yt_accounts, tt_accounts, dy_accounts
FROM dailystats_day_accounts WHERE stats_date = $1

-- name: day_wants_groups --
-- A day the pass groups ahead of its scan: classified, never aggregated (its first
-- scan aggregates it whole), and its stored groups are not of its rows as they are.
SELECT EXISTS (SELECT 1 FROM dailystats_classified_days
               WHERE stats_date = $1 AND aggregated_seq IS NULL
                 AND groups_seq IS DISTINCT FROM change_seq AND xid_mark IS NOT NULL)

-- name: lock_day_groups --
-- Two passes never store one day's groups at once (the scan's lock is not taken).
SELECT pg_advisory_xact_lock(7210136, $1::date - DATE '2000-01-01')

-- name: save_day_groups --
WITH gone AS (DELETE FROM dailystats_day_groups WHERE stats_date = $1)
INSERT INTO dailystats_day_groups
    (stats_date, task_id, platform, video_id, is_short, short_link, row_id, completions,
     views, likes, comments, shares, collects, holds, saved_at, first)
SELECT $1, task_id, platform, video_id, is_short, short_link, row_id, completions,
       views, likes, comments, shares, collects, holds, saved_at, first
FROM pg_temp.day_groups

-- name: save_day_accounts --
WITH gone AS (DELETE FROM dailystats_day_accounts WHERE stats_date = $1)
INSERT INTO dailystats_day_accounts
    (stats_date, task_id, agent_node, completions, accounts, yt_accounts, tt_accounts,
     dy_accounts)
SELECT $1, task_id, agent_node, completions, accounts, yt_accounts, tt_accounts, dy_accounts
FROM pg_temp.day_accounts

-- name: set_day_groups_seq --
-- Last in the transaction that stores them: the row's lock is held for its commit only.
UPDATE dailystats_classified_days SET groups_seq = $2 WHERE stats_date = $1

-- name: unresolved_short_links --
SELECT DISTINCT c.short_link AS link, c.platform
FROM pg_temp.day_groups c
WHERE c.is_short
  AND NOT EXISTS (SELECT 1 FROM dailystats_short_links s WHERE s.link = c.short_link)

-- name: save_short_link --
INSERT INTO dailystats_short_links (link, platform, video_id) VALUES ($1, $2, $3)
ON CONFLICT (link) DO UPDATE
SET platform = EXCLUDED.platform, video_id = EXCLUDED.video_id, resolved_at = now()

-- name: resolve_day_short_links --
-- Give short-link completions (their groups, one per completion) the video their link
-- resolved to (same platform only; another platform's leaves each completion alone).
-- A resolved link no longer groups its completions: short_link stays set only while
-- unresolved (day_videos counts one video per unresolved link). The answers used are
-- dated by this use (at most once a day), so retention keeps them while in use.
WITH used AS (
    UPDATE dailystats_short_links s SET last_used_at = now()
    WHERE s.link IN (SELECT c.short_link FROM pg_temp.day_groups c WHERE c.is_short)
      AND (s.last_used_at IS NULL OR s.last_used_at < now() - interval '1 day')
)
UPDATE pg_temp.day_groups c
SET video_id = CASE WHEN s.platform = c.platform THEN s.video_id END, short_link = NULL
FROM dailystats_short_links s
WHERE c.is_short AND s.link = c.short_link

-- name: create_videos_to_fetch --
-- Each distinct video of the day whose stats must come from its platform, by the
-- scan's mode ($3; spec section 7, "What a rescan may refresh"):
--   full        none of its completions saved a usable count (or the policy prefers
--               live stats, $1), and nothing fresh is cached since $2;
--   settle      no stats at all: no saved count, nothing ever cached with a count, and
--               no fetched numbers the day last used (dailystats_day_video_stats, $4);
--   incomplete  as settle, and by the full rule the videos the day last counted on
--               their last known stats (what a stop or budget left out), or every
--               video by the full rule when the day has no numbers stored yet.
-- A video found deleted or private is not asked for again for a day, however short
-- the freshness setting; one whose last fetch was partial is asked again (full). Kept
-- in a temporary table and read in pages, so no transaction stays open while the APIs
-- answer.
CREATE TEMP TABLE day_videos_to_fetch AS
WITH videos AS (
    SELECT c.platform, c.video_id, bool_and(NOT c.holds) AS no_saved
    FROM pg_temp.day_groups c
    WHERE c.video_id IS NOT NULL AND c.platform = ANY($5::text[])  -- those with a key
    GROUP BY c.platform, c.video_id
),
judged AS (
    SELECT v.*,
           coalesce((s.fetched_at >= $2 AND NOT s.partial)
                    OR (s.status = 'gone' AND s.fetched_at >= now() - interval '1 day'),
                    false) AS fresh,
           coalesce(num_nonnulls(s.view_count, s.like_count, s.comment_count,
                                 CASE WHEN v.platform = 'dy' THEN s.share_count END,
                                 CASE WHEN v.platform = 'dy' THEN s.collect_count END) > 0
                    OR (s.status = 'gone' AND s.fetched_at >= now() - interval '1 day'),
                    false) AS has_cached,
           k.source AS kept_source
    FROM videos v
    LEFT JOIN dailystats_video_stats s ON s.platform = v.platform AND s.video_id = v.video_id
    LEFT JOIN dailystats_day_video_stats k
           ON $3::text <> 'full' AND k.stats_date = $4::date AND k.platform = v.platform
          AND k.video_key = v.video_id
)
SELECT j.platform, j.video_id
FROM judged j
WHERE CASE $3::text
      WHEN 'full' THEN ($1 OR j.no_saved) AND NOT j.fresh
      ELSE (j.no_saved AND NOT j.has_cached
            AND coalesce(j.kept_source NOT IN ('cache', 'live', 'last_known'), true))
           OR ($3::text = 'incomplete' AND ($1 OR j.no_saved) AND NOT j.fresh
               AND (j.kept_source = 'last_known'
                    OR NOT EXISTS (SELECT 1 FROM dailystats_day_video_stats d
                                   WHERE d.stats_date = $4::date)))
      END

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
--   saved       the largest usable counts its completions of the day saved, in any task;
--   cache       fresh stats fetched before this scan;
--   live        stats fetched by this scan;
--   last_known  cached stats however old: stale, partial, or of a video since gone,
--               so an outage, a stop or a budget never lowers numbers already sent;
--   missing     none of these: 0, counted, asked again at the next scan.
-- Order: saved, cache/live, last_known, missing; live_first ($1): cache/live, then the
-- more recent of saved (the latest saved_at among the video's completions of the day
-- that hold usable counts) and last_known (fetched_at), then missing: a month-old
-- number never beats yesterday's saved one. $2 freshness cutoff, $3 start of this scan
-- (NULL: no live source).
CREATE TEMP TABLE day_videos AS
-- The day's groups, one a video per task once merged (merge_day_groups).
WITH per_task AS (
    SELECT g.task_id, g.platform, g.video_id, g.short_link,
           CASE WHEN g.video_id IS NULL AND g.short_link IS NULL THEN g.row_id END AS alone_id,
           g.completions, g.views, g.likes, g.comments, g.shares, g.collects, g.holds,
           g.saved_at,
           -- The node its counts fall to (spec section 9): its earliest completion's
           -- user's (submitted_at, ties lowest id); '' unassigned.
           (g.first).agent_node AS agent_node
    FROM pg_temp.day_groups g
),
-- Each video keyed as dailystats_day_video_stats keys it: the video id, 's:' || an
-- unresolved short link, 'c:' || a lone completion (never two of them: a short link's
-- row names no video until resolved, and a video id holds no ':'). Not materialized:
-- reading day_groups again where it is used costs less than writing and reading a
-- copy of it (0.81 s instead of 0.97 s for 265,000 groups).
keyed AS NOT MATERIALIZED (
    SELECT p.*, coalesce(p.video_id, 's:' || p.short_link, 'c:' || p.alone_id) AS video_key
    FROM per_task p
),
-- A video's saved counts are the day's, across tasks: the same video has the same
-- numbers in every task that counts it (a lone completion is a video of its own).
-- (Grouped and joined back: cheaper than a window over the same rows.) Only a video
-- counted by more than one group needs its groups' maxima: one group's are its own,
-- and most of a day's videos are counted by one task.
shared AS (
    SELECT platform, video_key FROM keyed GROUP BY 1, 2 HAVING count(*) > 1
),
day_wide AS (
    SELECT k.platform, k.video_key,
           max(k.views) AS saved_views, max(k.likes) AS saved_likes,
           max(k.comments) AS saved_comments, max(k.shares) AS saved_shares,
           max(k.collects) AS saved_collects, bool_or(k.holds) AS has_saved,
           max(k.saved_at) AS saved_at
    FROM keyed k
    JOIN shared s ON s.platform = k.platform AND s.video_key = k.video_key
    GROUP BY 1, 2
),
videos AS (
    SELECT k.task_id, k.platform, k.video_id, k.short_link, k.alone_id, k.completions,
           CASE WHEN w.video_key IS NULL THEN k.views ELSE w.saved_views END AS saved_views,
           CASE WHEN w.video_key IS NULL THEN k.likes ELSE w.saved_likes END AS saved_likes,
           CASE WHEN w.video_key IS NULL THEN k.comments ELSE w.saved_comments END
               AS saved_comments,
           CASE WHEN w.video_key IS NULL THEN k.shares ELSE w.saved_shares END AS saved_shares,
           CASE WHEN w.video_key IS NULL THEN k.collects ELSE w.saved_collects END
               AS saved_collects,
           CASE WHEN w.video_key IS NULL THEN k.holds ELSE w.has_saved END AS has_saved,
           CASE WHEN w.video_key IS NULL THEN k.saved_at ELSE w.saved_at END AS saved_at,
           k.agent_node, k.video_key
    FROM keyed k
    LEFT JOIN day_wide w ON w.platform = k.platform AND w.video_key = k.video_key
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
                -- live_first without fresh stats: the more recent of saved and last known.
                WHEN c.has_saved AND NOT ($1 AND c.known
                                          AND c.fetched_at > c.saved_at AT TIME ZONE 'UTC')
                     THEN 'saved'
                WHEN c.known THEN 'last_known'
                ELSE 'missing' END AS source
    FROM cached c
    -- Kept a subquery (not pulled up into the select below), so the source is worked
    -- out once a row, not again in each count's CASE (0.60 s instead of 0.80 s).
    OFFSET 0
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

-- name: keep_day_videos --
-- A settle or incomplete rescan (spec section 7) keeps the fetched numbers the day last
-- used for each video that did not take saved counts this time, even where a scan of
-- another day has fetched newer ones since (counted 'cache'; numbers that were already
-- last known stay 'last_known'). An incomplete rescan keeps none of its last known
-- ones: it fetched them again. Not under live_first (newer cached numbers win there).
-- $1 stats date, $2 the scan's mode.
UPDATE pg_temp.day_videos v
SET source = CASE k.source WHEN 'last_known' THEN 'last_known' ELSE 'cache' END,
    fetched_at = k.fetched_at,
    views = coalesce(k.view_count, 0), likes = coalesce(k.like_count, 0),
    comments = coalesce(k.comment_count, 0), shares = coalesce(k.share_count, 0),
    collects = coalesce(k.collect_count, 0)
FROM dailystats_day_video_stats k
WHERE k.stats_date = $1 AND k.platform = v.platform
  AND k.video_key = v.video_key
  AND v.source <> 'saved'
  AND (k.source IN ('cache', 'live') OR (k.source = 'last_known' AND $2::text = 'settle'))

-- name: create_day_video_numbers --
-- The numbers this scan used, one row a video (spec section 7): what the day's
-- per-video numbers become (insert_day_videos, save_day_videos), in the scan's write
-- transaction. A video in several tasks is one row (its numbers are the same in each).
-- In the order of the table's key (migration 0021: bytes, the video key first), so its
-- index grows page by page.
CREATE TEMP VIEW day_video_numbers AS
SELECT DISTINCT ON (v.video_key COLLATE "C", v.platform COLLATE "C")
       v.platform, v.video_key, v.source, v.views, v.likes, v.comments, v.shares, v.collects,
       CASE WHEN v.source IN ('cache', 'live', 'last_known') THEN v.fetched_at END AS fetched_at
FROM pg_temp.day_videos v
ORDER BY v.video_key COLLATE "C", v.platform COLLATE "C", v.views DESC, v.task_id

-- name: drop_day_video_numbers --
DROP VIEW IF EXISTS pg_temp.day_video_numbers

-- name: day_has_video_numbers --
SELECT EXISTS (SELECT 1 FROM dailystats_day_video_stats WHERE stats_date = $1)

-- name: insert_day_videos --
-- A day's first per-video numbers (it has none stored, and the scan holds its lock):
-- a plain insert, without the upsert's check of each row against the index (265,000
-- rows in 1.1 s instead of 1.8 s). $1 stats date, $2 this scan's run id.
INSERT INTO dailystats_day_video_stats
    (stats_date, platform, video_key, source, view_count, like_count, comment_count,
     share_count, collect_count, fetched_at, run_id)
SELECT $1, u.platform, u.video_key, u.source, u.views, u.likes, u.comments, u.shares,
       u.collects, u.fetched_at, $2
FROM pg_temp.day_video_numbers u

-- name: analyze_day_video_stats --
-- Only the columns the rescans' plans filter and join on (0.04 s instead of 0.09 s at
-- 265,000 rows a day); autovacuum's analysis covers the rest.
ANALYZE dailystats_day_video_stats (stats_date, video_key, platform, source)

-- name: save_day_videos --
-- The day's per-video numbers brought to this scan's: what a later settle rescan keeps
-- and the audit recomputes with. A video no longer of the day loses its row; an
-- unchanged row is not rewritten (it keeps its run_id, and 'live': the numbers the
-- scan that fetched them used, read from the cache later). $1 stats date, $2 this
-- scan's run id, $3 a whole aggregation (else only the videos of the rows changed
-- since can have left the day). The numbers read once (the view sorts). Two deletes,
-- one of which finds nothing (a whole aggregation has no scope keys): a scope's videos
-- are looked up by key, which an OR with $3 would keep from being planned as a join.
WITH used AS MATERIALIZED (SELECT * FROM pg_temp.day_video_numbers),
gone_from_scope AS (
    DELETE FROM dailystats_day_video_stats k
    WHERE k.stats_date = $1
      AND (k.platform, k.video_key) IN (SELECT platform, video_key
                                        FROM pg_temp.day_scope_keys)
      AND NOT EXISTS (SELECT 1 FROM used u
                      WHERE u.platform = k.platform AND u.video_key = k.video_key)
),
gone_from_day AS (
    DELETE FROM dailystats_day_video_stats k
    WHERE $3 AND k.stats_date = $1
      AND NOT EXISTS (SELECT 1 FROM used u
                      WHERE u.platform = k.platform AND u.video_key = k.video_key)
)
INSERT INTO dailystats_day_video_stats AS k
    (stats_date, platform, video_key, source, view_count, like_count, comment_count,
     share_count, collect_count, fetched_at, run_id)
SELECT $1, u.platform, u.video_key, u.source, u.views, u.likes, u.comments, u.shares,
       u.collects, u.fetched_at, $2
FROM used u
ON CONFLICT (stats_date, platform, video_key) DO UPDATE
SET source = EXCLUDED.source, view_count = EXCLUDED.view_count,
    like_count = EXCLUDED.like_count, comment_count = EXCLUDED.comment_count,
    share_count = EXCLUDED.share_count, collect_count = EXCLUDED.collect_count,
    fetched_at = EXCLUDED.fetched_at, run_id = EXCLUDED.run_id
WHERE (replace(k.source, 'live', 'cache'), k.view_count, k.like_count, k.comment_count,
       k.share_count, k.collect_count, k.fetched_at)
      IS DISTINCT FROM
      (replace(EXCLUDED.source, 'live', 'cache'), EXCLUDED.view_count, EXCLUDED.like_count, EXCLUDED.comment_count,
       EXCLUDED.share_count, EXCLUDED.collect_count, EXCLUDED.fetched_at)

-- name: still_owed_providers --
-- A settle rescan fetches nothing a stop or budget left out (spec section 7): the
-- providers the day's latest successful scan still owed stay owed while any of their
-- videos is still counted on last known stats or missing. $1 stats date.
SELECT coalesce(array_agg(DISTINCT p.provider ORDER BY p.provider), '{}'::text[])
FROM (SELECT CASE WHEN v.platform = 'yt' THEN 'youtube' ELSE 'tikhub' END AS provider
      FROM pg_temp.day_videos v
      WHERE v.source IN ('last_known', 'missing')) p
WHERE p.provider = ANY(coalesce((
    SELECT r.incomplete_providers FROM dailystats_scan_runs r
    WHERE r.stats_date = $1 AND r.status = 'succeeded'
    ORDER BY r.id DESC LIMIT 1), '{}'::text[]))

-- name: day_scanned_before --
-- Whether the day has had a successful scan: one that has not is always scanned full.
SELECT EXISTS (SELECT 1 FROM dailystats_scan_runs
               WHERE stats_date = $1 AND status = 'succeeded')

-- name: drop_day_videos --
DROP TABLE IF EXISTS pg_temp.day_videos

-- name: upsert_day_stats --
-- The numbers of spec section 3 for every task of day_completions (a partial
-- aggregation's: its scope), upserted into task_daily_stats from day_task_sums (its
-- nodes' counts, summed). A row whose numbers did not change is not touched. $1 stats
-- date; returns how many rows it wrote.
-- Fetched stats this scan used are dated by this use (at most once a day), so retention
-- keeps them while a day that used them is retained (spec section 7).
WITH used AS (
    UPDATE dailystats_video_stats c SET used_at = now()
    FROM pg_temp.day_videos v
    WHERE v.source IN ('cache', 'live', 'last_known')
      AND c.platform = v.platform AND c.video_id = v.video_id
      AND (c.used_at IS NULL OR c.used_at < now() - interval '1 day')
),
upserted AS (
    INSERT INTO task_daily_stats AS t (
        task_id, project_id, external_task_id, stats_date,
        total_account_count, total_completion_count,
        yt_account_count, yt_view_count, yt_like_count, yt_comment_count,
        tt_account_count, tt_view_count, tt_like_count, tt_comment_count,
        dy_account_count, dy_view_count, dy_like_count, dy_comment_count,
        dy_share_count, dy_collect_count)
    SELECT s.task_id, dt.project_id, dt.external_task_id, $1,
           s.total_account_count, s.total_completion_count,
           s.yt_account_count, s.yt_view_count, s.yt_like_count, s.yt_comment_count,
           s.tt_account_count, s.tt_view_count, s.tt_like_count, s.tt_comment_count,
           s.dy_account_count, s.dy_view_count, s.dy_like_count, s.dy_comment_count,
           s.dy_share_count, s.dy_collect_count
    FROM pg_temp.day_task_sums s
    JOIN drama_tasks dt ON dt.task_id = s.task_id
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
-- (The day's totals are save_day_tasks' and day_task_totals'.)
SELECT (SELECT count(*) FROM upserted)::int AS rows_changed

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
  AND ($2 OR t.task_id IN (SELECT task_id FROM pg_temp.day_scope))  -- $2 whole day
  -- (day_node_stats has a row per task and node of day_completions: a task with any
  -- completion has one, and it is a hundredth of the day's rows to look through)
  AND NOT EXISTS (SELECT 1 FROM pg_temp.day_node_stats n WHERE n.task_id = t.task_id)
  AND (t.total_completion_count <> 0 OR t.total_account_count <> 0)

-- ======================================================================= node split
-- The split by agent node (spec section 9). Completions and accounts fall to their
-- user's node; a video's counts (day_videos, as the task row summed them) fall to the
-- node of the user of its earliest completion in that task and day (submitted_at, ties
-- lowest user_tasks.id), so a video still counts once and the nodes add up to the row.
-- Unassigned is '' from here on, as dailystats_node_stats stores it.

-- name: create_day_node_stats --
-- The counts of upsert_day_stats, per task and node; sums saturate as the row's do.
CREATE TEMP TABLE day_node_stats AS
WITH video_sums AS (
    SELECT v.task_id, v.agent_node,
           sum(v.views) FILTER (WHERE v.platform = 'yt') AS yt_views,
           sum(v.likes) FILTER (WHERE v.platform = 'yt') AS yt_likes,
           sum(v.comments) FILTER (WHERE v.platform = 'yt') AS yt_comments,
           sum(v.views) FILTER (WHERE v.platform = 'tt') AS tt_views,
           sum(v.likes) FILTER (WHERE v.platform = 'tt') AS tt_likes,
           sum(v.comments) FILTER (WHERE v.platform = 'tt') AS tt_comments,
           sum(v.views) FILTER (WHERE v.platform = 'dy') AS dy_views,
           sum(v.likes) FILTER (WHERE v.platform = 'dy') AS dy_likes,
           sum(v.comments) FILTER (WHERE v.platform = 'dy') AS dy_comments,
           sum(v.shares) FILTER (WHERE v.platform = 'dy') AS dy_shares,
           sum(v.collects) FILTER (WHERE v.platform = 'dy') AS dy_collects,
           count(*) AS videos, count(*) FILTER (WHERE v.source = 'missing') AS missing,
           count(*) FILTER (WHERE v.source = 'last_known') AS stale
    FROM pg_temp.day_videos v
    GROUP BY 1, 2
)
SELECT a.task_id, a.agent_node,
       a.accounts::int AS total_account_count, a.completions::int AS total_completion_count,
       a.yt_accounts::int AS yt_account_count, dailystats_clamp(s.yt_views) AS yt_view_count,
       dailystats_clamp(s.yt_likes) AS yt_like_count, dailystats_clamp(s.yt_comments) AS yt_comment_count,
       a.tt_accounts::int AS tt_account_count, dailystats_clamp(s.tt_views) AS tt_view_count,
       dailystats_clamp(s.tt_likes) AS tt_like_count, dailystats_clamp(s.tt_comments) AS tt_comment_count,
       a.dy_accounts::int AS dy_account_count, dailystats_clamp(s.dy_views) AS dy_view_count,
       dailystats_clamp(s.dy_likes) AS dy_like_count, dailystats_clamp(s.dy_comments) AS dy_comment_count,
       dailystats_clamp(s.dy_shares) AS dy_share_count, dailystats_clamp(s.dy_collects) AS dy_collect_count,
       -- (not stored per node: what save_day_tasks records per task)
       coalesce(s.videos, 0) AS video_count, coalesce(s.missing, 0) AS videos_missing,
       coalesce(s.stale, 0) AS videos_stale
FROM pg_temp.day_accounts a
LEFT JOIN video_sums s ON s.task_id = a.task_id AND s.agent_node = a.agent_node

-- name: create_day_task_sums --
-- Each task's counts: its nodes' summed. A user is of one node and a video's counts
-- fall to one node, so the nodes add up to the task (spec section 9) and the day's
-- videos are not grouped again. Counts are never negative, so a sum of the nodes'
-- saturated sums saturates where the task's own would. What the scan writes
-- (upsert_day_stats, save_day_tasks) and the audit recomputes.
CREATE TEMP VIEW day_task_sums AS
SELECT task_id,
       dailystats_clamp(sum(total_account_count)) AS total_account_count,
       dailystats_clamp(sum(total_completion_count)) AS total_completion_count,
       dailystats_clamp(sum(yt_account_count)) AS yt_account_count,
       dailystats_clamp(sum(yt_view_count)) AS yt_view_count,
       dailystats_clamp(sum(yt_like_count)) AS yt_like_count,
       dailystats_clamp(sum(yt_comment_count)) AS yt_comment_count,
       dailystats_clamp(sum(tt_account_count)) AS tt_account_count,
       dailystats_clamp(sum(tt_view_count)) AS tt_view_count,
       dailystats_clamp(sum(tt_like_count)) AS tt_like_count,
       dailystats_clamp(sum(tt_comment_count)) AS tt_comment_count,
       dailystats_clamp(sum(dy_account_count)) AS dy_account_count,
       dailystats_clamp(sum(dy_view_count)) AS dy_view_count,
       dailystats_clamp(sum(dy_like_count)) AS dy_like_count,
       dailystats_clamp(sum(dy_comment_count)) AS dy_comment_count,
       dailystats_clamp(sum(dy_share_count)) AS dy_share_count,
       dailystats_clamp(sum(dy_collect_count)) AS dy_collect_count,
       sum(video_count) AS video_count, sum(videos_missing) AS videos_missing,
       sum(videos_stale) AS videos_stale
FROM pg_temp.day_node_stats
GROUP BY task_id

-- name: drop_day_node_stats --
DROP VIEW IF EXISTS pg_temp.day_task_sums;
DROP TABLE IF EXISTS pg_temp.day_node_stats

-- name: upsert_day_node_stats --
-- The day's split into dailystats_node_stats, in the scan's write transaction: a row
-- whose numbers did not change is not touched; a node left with no completions (and
-- every node of a task that lost them all) loses its row. $1 stats date, $2 a whole
-- aggregation (else only tasks in scope are looked at).
WITH upserted AS (
    INSERT INTO dailystats_node_stats AS t (
        task_id, stats_date, agent_node,
        total_account_count, total_completion_count,
        yt_account_count, yt_view_count, yt_like_count, yt_comment_count,
        tt_account_count, tt_view_count, tt_like_count, tt_comment_count,
        dy_account_count, dy_view_count, dy_like_count, dy_comment_count,
        dy_share_count, dy_collect_count)
    SELECT n.task_id, $1, n.agent_node,
           n.total_account_count, n.total_completion_count,
           n.yt_account_count, n.yt_view_count, n.yt_like_count, n.yt_comment_count,
           n.tt_account_count, n.tt_view_count, n.tt_like_count, n.tt_comment_count,
           n.dy_account_count, n.dy_view_count, n.dy_like_count, n.dy_comment_count,
           n.dy_share_count, n.dy_collect_count
    FROM pg_temp.day_node_stats n
    -- as upsert_day_stats: a completion of a task no longer in drama_tasks has no row
    WHERE EXISTS (SELECT 1 FROM drama_tasks dt WHERE dt.task_id = n.task_id)
    ON CONFLICT (task_id, stats_date, agent_node) DO UPDATE SET
        total_account_count = EXCLUDED.total_account_count,
        total_completion_count = EXCLUDED.total_completion_count,
        yt_account_count = EXCLUDED.yt_account_count, yt_view_count = EXCLUDED.yt_view_count,
        yt_like_count = EXCLUDED.yt_like_count, yt_comment_count = EXCLUDED.yt_comment_count,
        tt_account_count = EXCLUDED.tt_account_count, tt_view_count = EXCLUDED.tt_view_count,
        tt_like_count = EXCLUDED.tt_like_count, tt_comment_count = EXCLUDED.tt_comment_count,
        dy_account_count = EXCLUDED.dy_account_count, dy_view_count = EXCLUDED.dy_view_count,
        dy_like_count = EXCLUDED.dy_like_count, dy_comment_count = EXCLUDED.dy_comment_count,
        dy_share_count = EXCLUDED.dy_share_count, dy_collect_count = EXCLUDED.dy_collect_count,
        updated_at = now()
    WHERE (t.total_account_count, t.total_completion_count,
           t.yt_account_count, t.yt_view_count, t.yt_like_count, t.yt_comment_count,
           t.tt_account_count, t.tt_view_count, t.tt_like_count, t.tt_comment_count,
           t.dy_account_count, t.dy_view_count, t.dy_like_count, t.dy_comment_count,
           t.dy_share_count, t.dy_collect_count)
          IS DISTINCT FROM
          (EXCLUDED.total_account_count, EXCLUDED.total_completion_count,
           EXCLUDED.yt_account_count, EXCLUDED.yt_view_count, EXCLUDED.yt_like_count, EXCLUDED.yt_comment_count,
           EXCLUDED.tt_account_count, EXCLUDED.tt_view_count, EXCLUDED.tt_like_count, EXCLUDED.tt_comment_count,
           EXCLUDED.dy_account_count, EXCLUDED.dy_view_count, EXCLUDED.dy_like_count, EXCLUDED.dy_comment_count,
           EXCLUDED.dy_share_count, EXCLUDED.dy_collect_count)
    RETURNING 1
),
deleted AS (
    DELETE FROM dailystats_node_stats t
    WHERE t.stats_date = $1
      AND ($2 OR t.task_id IN (SELECT task_id FROM pg_temp.day_scope))
      AND NOT EXISTS (SELECT 1 FROM pg_temp.day_node_stats n
                      JOIN drama_tasks dt ON dt.task_id = n.task_id
                      WHERE n.task_id = t.task_id AND n.agent_node = t.agent_node)
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted)::int AS upserted, (SELECT count(*) FROM deleted)::int AS deleted

-- ======================================================================= status

-- name: recent_runs --
SELECT id, stats_date, trigger, status, started_at, finished_at, task_count,
       completion_count, video_count, videos_missing, videos_fetched, videos_failed,
       deliveries_queued, error, videos_stale
FROM dailystats_scan_runs ORDER BY started_at DESC, id DESC LIMIT $1

-- name: set_local_lock_timeout --
-- One bounded try at a lock: lock_timeout ($1, milliseconds) for the rest of the
-- caller's transaction only, and a statement_timeout just above it, so the try ends as
-- a lock timeout whatever the pool's own. A session advisory lock outlives the try.
SELECT set_config('lock_timeout', $1::int::text, true),
       set_config('statement_timeout', ($1::int + 1000)::text, true)

-- ======================================================================= classification
-- Issue 15: each completion classified once into dailystats_completions (migration
-- 0013), again only when its row changed; daemon/scan/classify.py runs these.
-- $1 start, $2 end (naive UTC), $3 completed statuses, $4 stats date throughout.

-- name: classify_day_record --
-- What the day's stored rows are (their count and XOR of row hashes), whether they
-- were classified under these settings ($2), and the low 32 bits of the day's mark
-- when it has one (migration 0018) no more than a billion transactions old; read in
-- the same snapshot as classify_fingerprint (daemon.scan.classify.check_day).
SELECT d.row_count, d.row_xor, d.classify_key = $2 AS same_key,
       CASE WHEN d.classify_key = $2 AND age(xid(d.xid_mark)) BETWEEN 0 AND 1000000000
            THEN d.xid_mark::text::bigint % 4294967296 END AS mark32
FROM dailystats_classified_days d WHERE d.stats_date = $1

-- name: classify_fingerprint --
-- One read of the day's rows over the submitted_at index (no JSON, no links), by
-- parallel workers: the count and XOR of hashes of its completions' (id, xmin) pairs,
-- and the ids of its rows (any status) written since the mark ($5, NULL: none), the
-- only ones that can differ from what is stored if the rest are exactly the stored
-- rows. For those ids, when they are few (at most a tenth of the day, or 1,000): the
-- count and XOR of the completions among them now, and of the rows stored for them.
-- mark: this snapshot's xmin, the day's mark once it is brought up to date.
WITH day AS (
    SELECT count(*) FILTER (WHERE ut.status = ANY($3::text[])) AS n,
           coalesce(bit_xor(dailystats_row_hash(ut.id, ut.xmin::text::bigint))
                    FILTER (WHERE ut.status = ANY($3::text[])), 0) AS x,
           dailystats_id_list(ut.id) FILTER (WHERE dailystats_written_since(ut.xmin, $5))
               AS ids
    FROM user_tasks ut
    WHERE ut.submitted_at >= $1 AND ut.submitted_at < $2
),
few AS (
    SELECT d.n, d.x,
           CASE WHEN $5 IS NOT NULL AND cardinality(d.ids) <= greatest(d.n / 10, 1000)
                THEN d.ids END AS ids
    FROM day d
)
SELECT f.n, f.x, f.ids AS since_ids,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS mark,
       now_done.n AS since_done, now_done.x AS since_done_xor,
       stored.n AS since_stored, stored.x AS since_stored_xor
FROM few f
CROSS JOIN LATERAL (
    SELECT count(*) AS n, coalesce(bit_xor(dailystats_row_hash(ut.id, ut.xmin::text::bigint)), 0) AS x
    FROM user_tasks ut
    WHERE ut.id = ANY(f.ids)
      AND ut.submitted_at >= $1 AND ut.submitted_at < $2 AND ut.status = ANY($3::text[])) now_done
CROSS JOIN LATERAL (
    SELECT count(*) AS n, coalesce(bit_xor(dailystats_row_hash(st.id, st.row_xmin)), 0) AS x
    FROM dailystats_completions st
    WHERE st.id = ANY(f.ids) AND st.stats_date = $4) stored

-- name: classify_set_mark --
-- The day was brought up to date from a read whose snapshot's xmin was $2: its mark
-- (the newer of two: every write since either read stored rows as they are).
UPDATE dailystats_classified_days SET xid_mark = greatest(xid_mark, $2::bigint::text::xid8)
WHERE stats_date = $1

-- name: classify_open_day --
-- The day's record, created on first use; true when every stored row of the day is
-- to be classified again: the record is new, or its rows were classified under other
-- settings ($2). Rows a forgotten record left (forget_classified_day, before
-- prune_classified_rows reached them) are in no fingerprint: they go as the record is
-- made, in its statement, so a new record's fingerprint counts every row stored under
-- it. (While a day has no record its rows are only ever deleted: no lock is needed.)
WITH made AS (
    INSERT INTO dailystats_classified_days (stats_date, classify_key) VALUES ($1, $2)
    ON CONFLICT (stats_date) DO NOTHING RETURNING 1
),
left_over AS (
    DELETE FROM dailystats_completions
    WHERE stats_date = $1 AND EXISTS (SELECT 1 FROM made)
)
SELECT EXISTS (SELECT 1 FROM made) AS made,
       EXISTS (SELECT 1 FROM made)
       OR (SELECT classify_key FROM dailystats_classified_days WHERE stats_date = $1) <> $2
       AS rekey

-- name: create_day_sync --
-- The ids whose stored classification may be wrong: rows of the day that are new or
-- whose xmin changed, stored rows that left the day (deleted, no longer completed,
-- moved to another day), and with $5 every one of both. n numbers them for batches.
CREATE TEMP TABLE day_sync AS
SELECT coalesce(c.id, s.id) AS id, row_number() OVER () AS n
FROM (SELECT ut.id, ut.xmin::text::bigint AS x
      FROM user_tasks ut
      WHERE ut.submitted_at >= $1 AND ut.submitted_at < $2 AND ut.status = ANY($3::text[])) c
FULL JOIN (SELECT id, row_xmin FROM dailystats_completions WHERE stats_date = $4) s
    ON s.id = c.id
WHERE $5 OR c.id IS NULL OR s.id IS NULL OR c.x <> s.row_xmin

-- name: create_day_sync_since --
-- As create_day_sync, for the ids written since the day's mark only ($5, from
-- classify_fingerprint), looked up by id: every other row of the day is stored as it is.
CREATE TEMP TABLE day_sync AS
SELECT coalesce(c.id, s.id) AS id, row_number() OVER () AS n
FROM (SELECT ut.id, ut.xmin::text::bigint AS x
      FROM user_tasks ut
      WHERE ut.id = ANY($5::int[])
        AND ut.submitted_at >= $1 AND ut.submitted_at < $2 AND ut.status = ANY($3::text[])) c
FULL JOIN (SELECT id, row_xmin FROM dailystats_completions
           WHERE id = ANY($5::int[]) AND stats_date = $4) s
    ON s.id = c.id
WHERE c.id IS NULL OR s.id IS NULL OR c.x <> s.row_xmin

-- name: drop_day_sync --
DROP TABLE IF EXISTS pg_temp.day_sync

-- name: analyze_day_sync --
-- Temporary tables have no statistics until analysed: without them the joins below
-- are planned for a guess.
ANALYZE pg_temp.day_sync

-- name: analyze_day_batch --
ANALYZE pg_temp.day_batch

-- name: analyze_day_new --
ANALYZE pg_temp.day_new

-- name: create_day_batch --
CREATE TEMP TABLE day_batch AS SELECT id FROM pg_temp.day_sync WHERE n > $1 AND n <= $2

-- name: create_day_batch_all --
-- Every id of the comparison at once (the scan's case): no copy.
CREATE TEMP VIEW day_batch AS SELECT id FROM pg_temp.day_sync

-- name: create_day_batch_new --
-- A new record's whole day (classify_new_day): the ids it classified, every one to be
-- stored (none is stored under the day; one stored under another day moves here).
CREATE TEMP VIEW day_batch AS SELECT id FROM pg_temp.day_new

-- name: drop_day_batch --
DROP TABLE IF EXISTS pg_temp.day_batch

-- name: drop_day_batch_view --
DROP VIEW IF EXISTS pg_temp.day_batch

-- name: jit_off --
-- Just-in-time compilation costs more than it saves on these one-pass statements.
SET LOCAL jit = off

-- name: classify_commit_async --
-- A batch writes only the classification (unlogged tables, migration 0017) and its
-- temporary tables: its commit need not wait for the log to reach the disk, which on a
-- busy disk held the day's lock for a third of a second more.
SELECT set_config('synchronous_commit', 'off', true)

-- name: index_lookups_only --
-- A small batch against a day of many rows: look its rows up by id (nested loops over
-- the primary keys) rather than read whole tables into hash joins.
SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)

-- name: scope_lookups_only --
-- A partial aggregation's scope, found through the store's indexes whatever the
-- planner believes of its size (a day classified moments ago may not be analysed yet).
SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
       set_config('enable_seqscan', 'off', true)

-- name: analyze_completions --
-- After many rows were classified: the store's statistics, so its days are planned
-- for their size.
ANALYZE dailystats_completions

-- name: index_day_sync --
CREATE INDEX ON pg_temp.day_sync (n)

-- name: classify_lock_days --
-- The records of the days the batch writes to, locked in one order (no deadlock with
-- another day's batch moving rows between the same days).
SELECT 1 FROM dailystats_classified_days
WHERE stats_date = $1
   OR stats_date IN (SELECT c.stats_date FROM dailystats_completions c
                     JOIN pg_temp.day_batch b ON b.id = c.id)
ORDER BY stats_date
FOR UPDATE

-- name: create_day_links --
-- The batch's distinct links (those short enough to be kept).
CREATE TEMP TABLE day_links AS
SELECT DISTINCT ut.submission_link AS link
FROM user_tasks ut JOIN pg_temp.day_batch b ON b.id = ut.id
WHERE ut.submission_link IS NOT NULL AND octet_length(ut.submission_link) <= 2000

-- name: create_day_links_all --
-- The day's distinct links, when the batch is the whole day: read by range, in parallel.
CREATE TEMP TABLE day_links AS
SELECT DISTINCT ut.submission_link AS link
FROM user_tasks ut
WHERE ut.submitted_at >= $1 AND ut.submitted_at < $2 AND ut.status = ANY($3::text[])
  AND ut.submission_link IS NOT NULL AND octet_length(ut.submission_link) <= 2000

-- name: classify_known_links --
-- Links classified before are marked used on this day (they are pruned with the days
-- that used them) and left out of day_links, which keeps only the new ones.
WITH touched AS (
    UPDATE dailystats_links x SET seen_on = $1
    FROM pg_temp.day_links l WHERE x.link = l.link AND x.seen_on < $1
)
DELETE FROM pg_temp.day_links l USING dailystats_links x WHERE x.link = l.link

-- name: classify_save_links --
-- The new links, each classified once, inserted in the order of the table's key: its
-- index then grows page by page instead of at random places (a first scan's 336,000
-- links went in in 0.85 s instead of 2.0 s). (Nothing here reads dailystats_links: a
-- scan of the table being inserted into, planned while it was empty, would be repeated
-- for every row.) A plain insert: ON CONFLICT DO NOTHING checked every row against the
-- index first (0.47 s of 2.4 s for those links). A link another batch saved since
-- classify_known_links fails it, and _save_links (daemon.scan.batch) starts over.
INSERT INTO dailystats_links (link, platform, video_id, is_short, short_link, seen_on)
SELECT k.link, nullif((k.c).platform, 'other'), (k.c).video_id, (k.c).is_short,
       CASE WHEN (k.c).is_short THEN dailystats_short_link(k.link) END, $1
FROM (SELECT l.link, dailystats_classify(NULL, l.link) AS c
      FROM pg_temp.day_links l ORDER BY l.link OFFSET 0) k

-- name: drop_day_links --
DROP TABLE IF EXISTS pg_temp.day_links

-- name: analyze_day_links --
ANALYZE pg_temp.day_links

-- name: analyze_links --
ANALYZE dailystats_links

-- name: create_day_new --
-- The batch's rows as they are now, classified (dailystats_classified_rows, migration
-- 0016), when they are completions of the day; looked up by id.
CREATE TEMP TABLE day_new AS
SELECT r.id, $4::date AS stats_date, r.row_xmin, r.user_id, r.views, r.likes, r.comments,
       r.shares, r.collects, r.submitted_at, r.saved_at, r.task_id, r.is_short,
       r.platform, r.video_id, r.short_link
FROM dailystats_classified_rows($1, $2, $3::text[]) r
JOIN pg_temp.day_batch b ON b.id = r.id

-- name: create_day_new_all --
-- Every row of the day classified afresh (the batch is the whole day): read by range,
-- by parallel workers (no temporary table in the query), with the same columns.
CREATE TEMP TABLE day_new AS
SELECT r.id, $4::date AS stats_date, r.row_xmin, r.user_id, r.views, r.likes, r.comments,
       r.shares, r.collects, r.submitted_at, r.saved_at, r.task_id, r.is_short,
       r.platform, r.video_id, r.short_link
FROM dailystats_classified_rows($1, $2, $3::text[]) r

-- name: keep_batch_rows --
-- ... of which only the ids of the comparison are written: a row that joined the day
-- since may still be stored under another day, which only its own comparison unstores.
DELETE FROM pg_temp.day_new n WHERE NOT EXISTS (SELECT 1 FROM pg_temp.day_sync s WHERE s.id = n.id)

-- name: create_day_changed --
-- The batch's rows whose classification changes in anything but their xmin, as
-- stored (a row it drops or alters) and as they are now (a row it adds or alters):
-- the days they change, and the tasks and videos a rescan aggregates again.
CREATE TEMP TABLE day_changed AS
WITH pairs AS (
    SELECT c.stats_date AS old_date, c.id AS old_id, c.task_id AS old_task,
           c.platform AS old_platform, c.video_id AS old_video, c.is_short AS old_short,
           c.short_link AS old_link,
           n.stats_date AS new_date, n.id AS new_id, n.task_id AS new_task,
           n.platform AS new_platform, n.video_id AS new_video, n.is_short AS new_short,
           n.short_link AS new_link
    FROM (SELECT c.* FROM dailystats_completions c JOIN pg_temp.day_batch b ON b.id = c.id) c
    FULL JOIN pg_temp.day_new n ON n.id = c.id
    WHERE (n.stats_date, n.user_id, n.views, n.likes, n.comments, n.shares, n.collects,
           n.submitted_at, n.saved_at, n.task_id, n.is_short, n.platform, n.video_id,
           n.short_link)
          IS DISTINCT FROM
          (c.stats_date, c.user_id, c.views, c.likes, c.comments, c.shares, c.collects,
           c.submitted_at, c.saved_at, c.task_id, c.is_short, c.platform, c.video_id,
           c.short_link)
)
SELECT old_date AS stats_date, old_id AS id, old_task AS task_id, old_platform AS platform,
       old_video AS video_id, old_short AS is_short, old_link AS short_link
FROM pairs WHERE old_id IS NOT NULL
UNION ALL
SELECT new_date, new_id, new_task, new_platform, new_video, new_short, new_link
FROM pairs WHERE new_id IS NOT NULL

-- name: day_changed_days --
SELECT DISTINCT stats_date FROM pg_temp.day_changed

-- name: classify_note_changes --
-- The changed rows under the change counter their day now has (classify_mark_changed
-- ran first): what a partial aggregation of the day reads. Only for a day whose next
-- aggregation may be partial: one aggregated before, with no whole one owed (today's
-- rows, arriving all day, are noted nowhere).
INSERT INTO dailystats_day_changes
    (stats_date, change_seq, id, task_id, platform, video_id, is_short, short_link)
SELECT DISTINCT x.stats_date, d.change_seq, x.id, x.task_id, x.platform, x.video_id,
       x.is_short, x.short_link
FROM pg_temp.day_changed x
JOIN dailystats_classified_days d
  ON d.stats_date = x.stats_date AND d.whole_seq <= d.aggregated_seq

-- name: drop_day_changed --
DROP TABLE IF EXISTS pg_temp.day_changed

-- name: index_day_new --
-- The comparison above looks rows up by id (index_lookups_only).
CREATE INDEX ON pg_temp.day_new (id)

-- name: classify_unstore --
-- The batch's stored rows go (replaced below), and their days' fingerprints with them;
-- returns those days (the ones with a record: a day without has nothing to mark).
WITH old AS (
    DELETE FROM dailystats_completions c USING pg_temp.day_batch b WHERE c.id = b.id
    RETURNING c.stats_date, c.id, c.row_xmin
),
gone AS (
    SELECT stats_date, count(*) AS n, bit_xor(dailystats_row_hash(id, row_xmin)) AS x
    FROM old GROUP BY stats_date
)
UPDATE dailystats_classified_days d
SET row_count = d.row_count - gone.n, row_xor = d.row_xor # gone.x
FROM gone WHERE d.stats_date = gone.stats_date
RETURNING d.stats_date

-- name: classify_store --
-- Every row of day_new is stored (or none: the statement fails), so the day's
-- fingerprint takes theirs read from day_new (a RETURNING of a million rows cost
-- 0.2 s more).
WITH added AS (
    INSERT INTO dailystats_completions
        (id, stats_date, row_xmin, user_id, views, likes, comments, shares, collects,
         submitted_at, saved_at, task_id, is_short, platform, video_id, short_link)
    SELECT id, stats_date, row_xmin, user_id, views, likes, comments, shares, collects,
           submitted_at, saved_at, task_id, is_short, platform, video_id, short_link
    FROM pg_temp.day_new
)
UPDATE dailystats_classified_days d
SET row_count = d.row_count + a.n, row_xor = d.row_xor # a.x
FROM (SELECT count(*) AS n, coalesce(bit_xor(dailystats_row_hash(id, row_xmin)), 0) AS x
      FROM pg_temp.day_new) a
WHERE d.stats_date = $1

-- name: classify_mark_changed --
-- $2: a change not noted row by row (rows classified afresh): aggregated whole again.
UPDATE dailystats_classified_days
SET change_seq = change_seq + 1,
    whole_seq = CASE WHEN $2 THEN change_seq + 1 ELSE whole_seq END
WHERE stats_date = ANY($1::date[])

-- name: classify_set_key --
UPDATE dailystats_classified_days SET classify_key = $2 WHERE stats_date = $1

-- name: classify_seen_users --
-- Users of the batch's rows whose node is not watched yet (refresh_user_nodes).
-- (Each user once before any join: a day's million rows name a tenth as many users.
-- Nothing here reads dailystats_user_nodes: planned while empty, a scan of the table
-- being inserted into would be repeated for every row; ON CONFLICT skips the known.)
INSERT INTO dailystats_user_nodes (user_id, agent_node)
SELECT u.user_id, dailystats_agent_node(u.agent_node)
FROM (SELECT DISTINCT n.user_id FROM pg_temp.day_new n) n
JOIN users u ON u.user_id = n.user_id
ON CONFLICT (user_id) DO NOTHING

-- name: drop_day_new --
DROP TABLE IF EXISTS pg_temp.day_new

-- name: user_nodes_changed --
-- Whether a watched user's node changed since last seen (a user gone: no node). One
-- hash join of both (an EXISTS was planned as a lookup per watched user: 1.2 s for
-- 300,000 of them, against 0.2 s).
SELECT coalesce(bool_or(n.agent_node IS DISTINCT FROM
                        dailystats_agent_node(u.agent_node)), false)
FROM dailystats_user_nodes n LEFT JOIN users u ON u.user_id = n.user_id

-- name: mark_all_days_changed --
-- A node changed: every classified day's numbers may have. Locked in date order, as
-- classify_lock_days does, so the two never deadlock.
UPDATE dailystats_classified_days SET change_seq = change_seq + 1, whole_seq = change_seq + 1
WHERE stats_date IN (SELECT stats_date FROM dailystats_classified_days
                     ORDER BY stats_date FOR UPDATE)

-- name: refresh_user_nodes --
UPDATE dailystats_user_nodes n SET agent_node = c.node
FROM (SELECT w.user_id, dailystats_agent_node(u.agent_node) AS node
      FROM dailystats_user_nodes w LEFT JOIN users u ON u.user_id = w.user_id) c
WHERE n.user_id = c.user_id AND n.agent_node IS DISTINCT FROM c.node

-- name: build_day_completions --
-- The day's completions for the rest of the scan, from their classification: no
-- link or JSON read again. agent_node: the user's node now, trimmed, NULL when blank.
CREATE TEMP TABLE day_completions AS
SELECT c.id, c.task_id, c.user_id, c.platform, c.video_id, c.is_short, c.short_link,
       c.views, c.likes, c.comments, c.shares, c.collects,
       dailystats_agent_node(u.agent_node) AS agent_node, c.submitted_at, c.saved_at
FROM dailystats_completions c
LEFT JOIN users u ON u.user_id = c.user_id
WHERE c.stats_date = $1

-- name: day_change_seq --
SELECT change_seq FROM dailystats_classified_days WHERE stats_date = $1

-- name: tasks_key --
-- A fingerprint of drama_tasks (any change to a task's row changes it).
SELECT count(*)::text || ':'
       || coalesce(bit_xor(dailystats_row_hash(task_id, xmin::text::bigint)), 0)::text
FROM drama_tasks

-- name: day_last_aggregation --
-- The day's last aggregation, when it still stands but for the day's own classified
-- rows ($1): the settings, payload settings and a mode that refreshed at least as much
-- as this scan's ($2, any of them), the tasks ($3); no short link of the day answered
-- and no stats of its videos fetched after what it could read (its per-video numbers
-- name the videos: a day scanned before they existed takes them from its next scan,
-- spec section 7). same_rows: its rows have not changed either (the day is unchanged).
-- partial: every change since was noted row by row and the per-task counts are kept
-- (only the tasks the changes touch need aggregating again); changes: how many rows
-- were noted; unresolved_now: a short link of the day still has no answer. With what a
-- rescan would still fetch.
SELECT d.task_count, d.completion_count, d.video_count, d.videos_missing, d.videos_stale,
       d.fetch_platforms, d.missing_platforms, d.unresolved_links, d.incomplete_providers,
       coalesce(d.fetch_due_at <= now(), false) AS fetch_due, d.aggregated_seq,
       d.aggregated_seq = d.change_seq AS same_rows,
       d.whole_seq <= d.aggregated_seq
           AND (d.task_count = 0
                OR EXISTS (SELECT 1 FROM dailystats_day_tasks t WHERE t.stats_date = $1))
           AS partial,
       (SELECT count(*) FROM dailystats_day_changes x
        WHERE x.stats_date = $1 AND x.change_seq > d.aggregated_seq) AS changes,
       EXISTS (SELECT 1 FROM dailystats_completions c
               WHERE c.stats_date = $1 AND c.is_short
                 AND NOT EXISTS (SELECT 1 FROM dailystats_short_links s
                                 WHERE s.link = c.short_link)) AS unresolved_now
FROM dailystats_classified_days d
WHERE d.stats_date = $1 AND d.aggregated_seq IS NOT NULL
  AND d.aggregate_key = ANY($2::text[]) AND d.tasks_key = $3
  AND (d.video_count = 0
       OR EXISTS (SELECT 1 FROM dailystats_day_video_stats n WHERE n.stats_date = $1))
  AND NOT EXISTS (SELECT 1 FROM dailystats_short_links s
                  JOIN dailystats_completions c
                    ON c.stats_date = $1 AND c.is_short AND c.short_link = s.link
                  WHERE s.resolved_at > coalesce(d.links_mark, '-infinity'))
  AND NOT EXISTS (SELECT 1 FROM dailystats_video_stats v
                  JOIN dailystats_day_video_stats k
                    ON k.stats_date = $1 AND k.platform = v.platform
                   AND k.video_key = v.video_id
                  WHERE v.fetched_at > coalesce(d.stats_mark, '-infinity'))

-- name: aggregate_marks --
-- Read just before the day is aggregated: the newest inputs it can see. (A writer
-- still committing then, with an older time, is the one thing this can miss: the
-- fetches and answers of another scan's statement in flight at that instant.)
SELECT now() AS at,
       (SELECT max(fetched_at) FROM dailystats_video_stats) AS stats_mark,
       (SELECT max(resolved_at) FROM dailystats_short_links) AS links_mark

-- name: record_aggregate --
-- In the transaction that writes the day's numbers: what they were computed from, and
-- what of pg_temp.day_videos a rescan would fetch ($11 live_first, $12 max age), read
-- in one pass over it; a partial aggregation ($16 false) adds its scope's to what the
-- day had (the platforms and links only ever over-counted: a rescan with providers is
-- then whole).
WITH v AS (
    SELECT platform,
           bool_or(source IN ('missing', 'last_known') OR ($11 AND source = 'saved'))
               AS to_fetch,
           bool_or(source = 'missing') AS missing,
           count(*) FILTER (WHERE short_link IS NOT NULL) AS unresolved,
           min(fetched_at) FILTER (WHERE source IN ('cache', 'live')) AS oldest
    FROM pg_temp.day_videos
    GROUP BY platform
)
UPDATE dailystats_classified_days
SET aggregated_seq = $2, aggregated_at = $3, aggregate_key = $4, tasks_key = $5,
    stats_mark = $13, links_mark = $14, incomplete_providers = $15,
    task_count = $6, completion_count = $7, video_count = $8, videos_missing = $9,
    videos_stale = $10,
    fetch_platforms = (SELECT coalesce(array_agg(DISTINCT p.platform), '{}')
                       FROM (SELECT v.platform FROM v WHERE v.to_fetch
                             UNION ALL
                             SELECT unnest(CASE WHEN $16 THEN '{}'::text[]
                                                ELSE fetch_platforms END)) p),
    missing_platforms = (SELECT coalesce(array_agg(DISTINCT p.platform), '{}')
                         FROM (SELECT v.platform FROM v WHERE v.missing
                               UNION ALL
                               SELECT unnest(CASE WHEN $16 THEN '{}'::text[]
                                                  ELSE missing_platforms END)) p),
    unresolved_links = (SELECT coalesce(sum(v.unresolved), 0)::bigint FROM v)
                       + CASE WHEN $16 THEN 0 ELSE coalesce(unresolved_links, 0) END,
    fetch_due_at = CASE WHEN $16 THEN (SELECT min(v.oldest) FROM v) + $12::interval
                   ELSE least(fetch_due_at, (SELECT min(v.oldest) FROM v) + $12::interval)
                   END
WHERE stats_date = $1

-- name: closed_classified_days --
SELECT stats_date FROM dailystats_classified_days WHERE stats_date < $1 ORDER BY stats_date

-- name: forget_classified_day --
-- A day no longer open: its record first, under its lock (a later scan of it then
-- classifies it afresh), with what only a partial aggregation of it reads and its groups;
-- then its rows (prune_classified_rows).
WITH changes AS (DELETE FROM dailystats_day_changes WHERE stats_date = $1),
     tasks AS (DELETE FROM dailystats_day_tasks WHERE stats_date = $1),
     groups AS (DELETE FROM dailystats_day_groups WHERE stats_date = $1),
     accounts AS (DELETE FROM dailystats_day_accounts WHERE stats_date = $1)
DELETE FROM dailystats_classified_days WHERE stats_date = $1

-- name: prune_classified_rows --
DELETE FROM dailystats_completions
WHERE id IN (SELECT c.id FROM dailystats_completions c
             WHERE c.stats_date < $1
               AND NOT EXISTS (SELECT 1 FROM dailystats_classified_days d
                               WHERE d.stats_date = c.stats_date)
             LIMIT $2)

-- name: prune_links --
DELETE FROM dailystats_links
WHERE link IN (SELECT link FROM dailystats_links WHERE seen_on < $1 LIMIT $2)

-- name: prune_user_nodes --
DELETE FROM dailystats_user_nodes n
WHERE NOT EXISTS (SELECT 1 FROM dailystats_completions c WHERE c.user_id = n.user_id)

-- name: try_lock_day --
-- The day's lock if free now, else false at once (the intraday classification pass
-- never waits for a scan).
SELECT pg_try_advisory_lock(7210135, $1::date - DATE '2000-01-01')

-- ======================================================================= partial aggregation
-- A rescan of a day aggregated before, whose classified rows changed (each change noted
-- row by row by the classification, migration 0015) and nothing else: it aggregates
-- again only the tasks those rows touch (pg_temp.day_scope), reading their rows and the
-- rows that share their videos. A whole aggregation leaves day_scope empty.

-- name: create_day_short_rows --
-- The day's short-link rows (few) keyed by what their link resolved to, as
-- resolve_day_short_links will key them: the resolved video, none when it resolved to
-- another platform, 's:' || the link while unresolved.
CREATE TEMP TABLE day_short_rows AS
SELECT c.id, c.task_id, c.platform,
       CASE WHEN s.link IS NULL THEN 's:' || c.short_link
            WHEN s.platform = c.platform THEN s.video_id END AS video_key
FROM dailystats_completions c
LEFT JOIN dailystats_short_links s ON s.link = c.short_link
WHERE c.stats_date = $1 AND c.is_short

-- name: create_day_scope_keys --
-- The videos of the rows changed since the day's last aggregation ($2: its change
-- counter), as stored and as they are now, keyed as dailystats_day_video_stats keys
-- them (a completion that names no video is a video of its own, 'c:' || its id); a
-- short link's also as unanswered: the last aggregation may have stored it so before
-- its answer came (a row that no longer has the link leaves no answer of the day).
CREATE TEMP TABLE day_scope_keys AS
SELECT x.platform,
       coalesce(CASE WHEN NOT x.is_short THEN x.video_id
                     WHEN s.link IS NULL THEN 's:' || x.short_link
                     WHEN s.platform = x.platform THEN s.video_id END,
                'c:' || x.id) AS video_key
FROM dailystats_day_changes x
LEFT JOIN dailystats_short_links s ON x.is_short AND s.link = x.short_link
WHERE x.stats_date = $1 AND x.change_seq > $2 AND x.platform <> 'other'
UNION
SELECT x.platform, 's:' || x.short_link
FROM dailystats_day_changes x
WHERE x.stats_date = $1 AND x.change_seq > $2 AND x.platform <> 'other'
  AND x.is_short AND x.short_link IS NOT NULL

-- name: create_day_scope --
-- The tasks whose numbers may have changed: those of the changed rows, and those that
-- count a changed row's video (a video's saved counts are the day's, across tasks).
CREATE TEMP TABLE day_scope AS
SELECT x.task_id FROM dailystats_day_changes x
WHERE x.stats_date = $1 AND x.change_seq > $2
UNION
SELECT c.task_id
FROM pg_temp.day_scope_keys k
JOIN dailystats_completions c
  ON c.video_id = k.video_key AND c.stats_date = $1 AND c.platform = k.platform
WHERE c.video_id IS NOT NULL AND NOT c.is_short
UNION
SELECT r.task_id
FROM pg_temp.day_short_rows r
JOIN pg_temp.day_scope_keys k ON k.platform = r.platform AND k.video_key = r.video_key

-- name: day_scope_tasks --
SELECT coalesce(array_agg(task_id), '{}') FROM pg_temp.day_scope

-- name: create_day_scope_empty --
-- A whole aggregation: no scope.
CREATE TEMP TABLE day_scope (task_id INTEGER);
CREATE TEMP TABLE day_scope_keys (platform TEXT, video_key TEXT)

-- name: create_day_scope_rows --
-- The rows a partial aggregation reads: every row of the scope's tasks, and the rows of
-- other tasks that count one of their videos (for that video's saved counts).
CREATE TEMP TABLE day_scope_rows AS
WITH task_rows AS (
    SELECT c.id, c.platform, c.video_id, c.is_short
    FROM dailystats_completions c
    WHERE c.stats_date = $1 AND c.task_id IN (SELECT task_id FROM pg_temp.day_scope)
),
keys AS (
    SELECT DISTINCT t.platform, t.video_id AS video_key FROM task_rows t
    WHERE t.video_id IS NOT NULL AND NOT t.is_short AND t.platform <> 'other'
    UNION
    SELECT r.platform, r.video_key FROM pg_temp.day_short_rows r
    WHERE r.video_key IS NOT NULL AND r.task_id IN (SELECT task_id FROM pg_temp.day_scope)
)
SELECT t.id FROM task_rows t
UNION
SELECT c.id
FROM keys k
JOIN dailystats_completions c
  ON c.video_id = k.video_key AND c.stats_date = $1 AND c.platform = k.platform
WHERE c.video_id IS NOT NULL AND NOT c.is_short
UNION
SELECT r.id FROM pg_temp.day_short_rows r
JOIN keys k ON k.platform = r.platform AND k.video_key = r.video_key

-- name: build_scoped_completions --
-- build_day_completions for the rows of day_scope_rows only.
CREATE TEMP TABLE day_completions AS
SELECT c.id, c.task_id, c.user_id, c.platform, c.video_id, c.is_short, c.short_link,
       c.views, c.likes, c.comments, c.shares, c.collects,
       dailystats_agent_node(u.agent_node) AS agent_node, c.submitted_at, c.saved_at
FROM pg_temp.day_scope_rows r
JOIN dailystats_completions c ON c.id = r.id
LEFT JOIN users u ON u.user_id = c.user_id
WHERE c.stats_date = $1

-- name: narrow_videos_to_scope --
-- Once each video has its day-wide counts: the rows of tasks out of scope go.
DELETE FROM pg_temp.day_videos v
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.day_scope s WHERE s.task_id = v.task_id)

-- name: narrow_accounts_to_scope --
DELETE FROM pg_temp.day_accounts c
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.day_scope s WHERE s.task_id = c.task_id)

-- name: drop_day_scope --
DROP TABLE IF EXISTS pg_temp.day_scope, pg_temp.day_scope_keys, pg_temp.day_scope_rows,
    pg_temp.day_short_rows

-- name: save_day_tasks --
-- What this aggregation counted per task ($2 whole: every task of the day; else the
-- scope's), so a partial aggregation's day totals are sums; a task left with no
-- completions loses its row.
WITH counted AS (
    SELECT task_id, total_completion_count AS completions, video_count AS videos,
           videos_missing AS missing, videos_stale AS stale
    FROM pg_temp.day_task_sums
),
gone AS (
    DELETE FROM dailystats_day_tasks t
    WHERE t.stats_date = $1
      AND ($2 OR t.task_id IN (SELECT task_id FROM pg_temp.day_scope))
      AND NOT EXISTS (SELECT 1 FROM counted c WHERE c.task_id = t.task_id)
)
INSERT INTO dailystats_day_tasks AS t
    (stats_date, task_id, completion_count, video_count, videos_missing, videos_stale)
SELECT $1, c.task_id, c.completions, c.videos, c.missing, c.stale FROM counted c
ON CONFLICT (stats_date, task_id) DO UPDATE
SET completion_count = EXCLUDED.completion_count, video_count = EXCLUDED.video_count,
    videos_missing = EXCLUDED.videos_missing, videos_stale = EXCLUDED.videos_stale
WHERE (t.completion_count, t.video_count, t.videos_missing, t.videos_stale)
      IS DISTINCT FROM
      (EXCLUDED.completion_count, EXCLUDED.video_count, EXCLUDED.videos_missing,
       EXCLUDED.videos_stale)

-- name: day_task_totals --
-- The day's totals after save_day_tasks (a partial aggregation counted only its scope).
SELECT count(*)::int AS task_count,
       coalesce(sum(completion_count), 0)::int AS completion_count,
       coalesce(sum(video_count), 0)::int AS video_count,
       coalesce(sum(videos_missing), 0)::int AS videos_missing,
       coalesce(sum(videos_stale), 0)::int AS videos_stale
FROM dailystats_day_tasks WHERE stats_date = $1

-- name: forget_day_changes --
-- In the aggregation's transaction: the changes it aggregated ($2: the change counter
-- it read) are done with.
DELETE FROM dailystats_day_changes WHERE stats_date = $1 AND change_seq <= $2
