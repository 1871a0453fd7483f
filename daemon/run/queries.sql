-- Named queries of daemon.run: the long-running service: look-back, metrics read from the database, retention.
-- Each under a "-- name: <name> --" header, loaded by daemon/store/queries.py and called by name.
-- Times are UTC (the pool sets it).

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

-- name: metrics_state --
-- What the metrics say about the database, read again after a restart and at each
-- scrape. $1: today in the stats zone. dead_latest: dead versions no newer version of
-- their task and day replaced (the ones `replay` acts on); pending_oldest_age: seconds
-- since the oldest pending version was written (0: none pending).
SELECT (SELECT extract(epoch FROM max(finished_at))::float8 FROM dailystats_scan_runs
        WHERE status = 'succeeded') AS last_success,
       (SELECT max(stats_date) FROM dailystats_scan_runs
        WHERE status = 'succeeded' AND stats_date < $1::date) AS last_scanned_day,
       (SELECT count(*) FROM dailystats_deliveries WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM dailystats_deliveries WHERE status = 'dead') AS dead,
       (SELECT count(*) FROM dailystats_deliveries d
        WHERE d.status = 'dead'
          AND NOT EXISTS (SELECT 1 FROM dailystats_deliveries n
                          WHERE n.task_id = d.task_id AND n.stats_date = d.stats_date
                            AND n.seq > d.seq)) AS dead_latest,
       (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
        FROM dailystats_deliveries WHERE status = 'pending') AS pending_oldest_age

-- name: metrics_last_scan --
-- The latest successful scan run that could refresh stats: what share of its videos
-- lacked fresh stats. A settle rescan keeps the numbers its day last used (spec
-- section 7), so its "stale" videos are by design, not a provider problem.
SELECT stats_date, coalesce(video_count, 0) AS videos,
       coalesce(videos_fetched, 0) AS fetched, coalesce(videos_missing, 0) AS missing,
       coalesce(videos_stale, 0) AS stale, coalesce(videos_failed, 0) AS failed
FROM dailystats_scan_runs
WHERE status = 'succeeded' AND trigger <> 'settle'
ORDER BY id DESC
LIMIT 1

-- name: metrics_provider_stops --
-- Stops in force (a stop is active while until IS NULL OR until > now()), with the
-- key digest a stop until cleared was earned with.
SELECT provider, until, key_fingerprint
FROM dailystats_provider_stops
WHERE until IS NULL OR until > now()

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
-- their task and day replaced. Kept: pending and dead ones (replay), the latest
-- version of each task and day (the outbox compares new payloads with it), and the last
-- delivered one (resend, and what X2C was last told: a delivered version goes only
-- once a newer one was delivered too).
DELETE FROM dailystats_deliveries
WHERE id IN (
    SELECT d.id FROM dailystats_deliveries d
    WHERE d.status IN ('superseded', 'delivered') AND d.updated_at < $1
      AND EXISTS (SELECT 1 FROM dailystats_deliveries n
                  WHERE n.task_id = d.task_id AND n.stats_date = d.stats_date
                    AND n.seq > d.seq
                    AND ((d.status <> 'delivered' AND d.delivered_at IS NULL)
                         OR n.status = 'delivered' OR n.delivered_at IS NOT NULL))
    LIMIT $2
)

-- name: prune_day_video_stats --
-- The numbers each video was counted with, per day (spec section 7): kept while their
-- day is retained, i.e. for stats dates from $1's date on.
DELETE FROM dailystats_day_video_stats
WHERE (stats_date, platform, video_key) IN (
    SELECT stats_date, platform, video_key FROM dailystats_day_video_stats
    WHERE stats_date < ($1::timestamptz AT TIME ZONE 'UTC')::date
    LIMIT $2
)
