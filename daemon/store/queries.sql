-- Named queries of daemon.store: the store's own: migrations and the database clock.
-- Each under a "-- name: <name> --" header, loaded by daemon/store/queries.py and called by name.
-- Times are UTC (the pool sets it).

-- name: create_migrations_table --
CREATE TABLE IF NOT EXISTS dailystats_migrations (
    name        TEXT PRIMARY KEY,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
)

-- name: applied_migrations --
SELECT name, applied_at FROM dailystats_migrations ORDER BY name

-- name: record_migration --
INSERT INTO dailystats_migrations (name) VALUES ($1)

-- name: db_now --
SELECT now()
