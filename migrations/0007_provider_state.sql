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

-- TikHub spend (spec section 5): calls answered 200 (the billed ones) and their
-- estimated USD, per stats-zone day and endpoint. Read by `status`; shared by replicas.
CREATE TABLE IF NOT EXISTS dailystats_tikhub_spend (
    spend_date  DATE NOT NULL,
    endpoint    TEXT NOT NULL,
    calls       INTEGER NOT NULL DEFAULT 0,
    usd         NUMERIC(14, 6) NOT NULL DEFAULT 0,
    PRIMARY KEY (spend_date, endpoint)
);

-- TIKHUB_DAILY_BUDGET_USD: the day's reserved spend (billed calls plus calls in flight).
-- A call reserves its price with one conditional UPDATE, so two replicas can never
-- pass the budget together; a call not answered 200 gives its reservation back.
CREATE TABLE IF NOT EXISTS dailystats_tikhub_budget (
    spend_date  DATE PRIMARY KEY,
    reserved    NUMERIC(14, 6) NOT NULL DEFAULT 0 CHECK (reserved >= 0)
);

-- What a scan run spent on TikHub: {"endpoint": {"calls": n, "usd": x}, ...}.
ALTER TABLE dailystats_scan_runs ADD COLUMN IF NOT EXISTS tikhub_spend JSONB;
