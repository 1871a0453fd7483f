-- Retention never removes what a retained day used (spec section 7, revision 3): the
-- last known stats and short-link answers a scan used are dated by their last use, not
-- only by when they were fetched or resolved. Set by the scan (at most once a day per
-- row), read by retention (daemon/run/queries.sql). Replay-safe.
ALTER TABLE dailystats_video_stats ADD COLUMN IF NOT EXISTS used_at TIMESTAMPTZ;
ALTER TABLE dailystats_short_links ADD COLUMN IF NOT EXISTS last_used_at TIMESTAMPTZ;
