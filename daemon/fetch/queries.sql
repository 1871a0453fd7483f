-- Named queries of daemon.fetch: provider stops and TikHub spend.
-- Each under a "-- name: <name> --" header, loaded by daemon/store/queries.py and called by name.
-- Times are UTC (the pool sets it).

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
-- key_changed: a TikHub stop stored with another key than the caller's ($1, its
-- fingerprint; NULL: no key): lifted for that process, shown as such, not cleared.
SELECT provider, reason, stopped_at, until, last_probe_at,
       (until IS NULL OR until > now()) AS active,
       coalesce(provider = 'tikhub' AND until IS NULL AND $1::text IS NOT NULL
                AND key_fingerprint IS DISTINCT FROM $1::text, false) AS key_changed
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
