-- The daemon's upkeep (issue 8): indexes for retention's batched deletes, which look
-- rows up by age, and for the last successful scan the metrics read at start.

CREATE INDEX IF NOT EXISTS dailystats_scan_runs_started_idx
    ON dailystats_scan_runs (started_at);
CREATE INDEX IF NOT EXISTS dailystats_scan_runs_succeeded_idx
    ON dailystats_scan_runs (finished_at) WHERE status = 'succeeded';
CREATE INDEX IF NOT EXISTS dailystats_video_stats_fetched_idx
    ON dailystats_video_stats (fetched_at);
CREATE INDEX IF NOT EXISTS dailystats_short_links_resolved_idx
    ON dailystats_short_links (resolved_at);
CREATE INDEX IF NOT EXISTS dailystats_deliveries_replaced_idx
    ON dailystats_deliveries (updated_at) WHERE status IN ('superseded', 'delivered');
