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

-- name: missing_privileges --
-- What the daemon's role lacks of what it needs (README "Database roles"): reads of the
-- bot's tables, reads and writes of task_daily_stats and of its own dailystats_* tables
-- (whatever migrations added them), their sequences, and temporary tables (the scan's).
WITH own AS (
    SELECT c.oid, c.relname, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema()
      AND c.relkind IN ('r', 'p', 'S')
      AND (c.relname LIKE 'dailystats\_%' OR c.relname LIKE 'task\_daily\_stats%')
), needed (relation, privilege) AS (
    SELECT t, 'SELECT' FROM unnest(ARRAY['users', 'drama_tasks', 'user_tasks']) AS t
    UNION ALL
    SELECT relname, p FROM own, unnest(
        CASE
            WHEN relkind = 'S' THEN ARRAY['USAGE']
            WHEN relname = 'dailystats_migrations' THEN ARRAY['SELECT']
            WHEN relname = 'task_daily_stats' THEN ARRAY['SELECT', 'INSERT', 'UPDATE']
            ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']
        END) AS p
)
SELECT on_what, privilege FROM (
    SELECT 'table ' || relation AS on_what, privilege
    FROM needed
    WHERE to_regclass(relation) IS NOT NULL
      AND privilege <> 'USAGE'
      AND NOT has_table_privilege(to_regclass(relation), privilege)
    UNION ALL
    SELECT 'sequence ' || relation, privilege
    FROM needed
    WHERE privilege = 'USAGE' AND NOT has_sequence_privilege(to_regclass(relation), 'USAGE')
    UNION ALL
    SELECT 'database ' || current_database(), 'TEMPORARY'
    WHERE NOT has_database_privilege(current_database(), 'TEMPORARY')
) AS missing
-- Tables first: the bot's, then ours, reads before writes.
ORDER BY on_what NOT LIKE 'table %', on_what NOT IN ('table users', 'table drama_tasks',
    'table user_tasks'), on_what, privilege <> 'SELECT', privilege
