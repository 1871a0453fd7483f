-- Provider state that outlives a run (spec section 5, revision 2): stops and spend.

-- A provider switched off until an operator fixes it or a time passes: YouTube's
-- quotaExceeded (until next midnight Pacific), TikHub's 401/402 (until the key or
-- balance is fixed; probed at most once an hour; a changed key lifts it at once), and
-- TikHub's daily budget (until the next midnight of the stats zone). A stop is
-- active while its row exists and (until IS NULL OR until > now()).
CREATE TABLE IF NOT EXISTS dailystats_provider_stops (
    provider         TEXT PRIMARY KEY CHECK (provider IN ('youtube', 'tikhub')),
    reason           TEXT NOT NULL,
    stopped_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    until            TIMESTAMPTZ,
    -- a digest of the key the stop was earned with (never the key): another key lifts it
    key_fingerprint  TEXT,
    last_probe_at    TIMESTAMPTZ
);

-- The providers ('youtube', 'tikhub') whose stop or budget left videos of a scan
-- without fresh stats; NULL or empty: the scan was complete. The daemon rescans such
-- a day once none of these providers is stopped any more.
ALTER TABLE dailystats_scan_runs ADD COLUMN IF NOT EXISTS incomplete_providers TEXT[];
