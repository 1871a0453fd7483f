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
