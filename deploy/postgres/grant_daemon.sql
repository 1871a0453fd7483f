-- The least privileges of the daemon's role (README "Database roles"): reads of the
-- bot's tables, reads and writes of task_daily_stats and of its own dailystats_* tables,
-- their sequences. Run it as the owner of the bot's tables (the role that runs
-- `dailystats migrate`), after creating the role, and again after an upgrade whose
-- migrations add a table (`dailystats run` names what is missing):
--
--   psql "postgresql://OWNER@HOST:5432/bot" -v role=dailystats -f deploy/postgres/grant_daemon.sql
--
-- CONNECT and TEMPORARY on the database (the scan's temporary tables) and USAGE on the
-- schema are PUBLIC's by default; where they were revoked, grant them too.
\set ON_ERROR_STOP on
SELECT set_config('dailystats.role', :'role', false);
DO $grant$
DECLARE
    grantee text := current_setting('dailystats.role');
    rel record;
BEGIN
    EXECUTE format('GRANT SELECT ON users, drama_tasks, user_tasks TO %I', grantee);
    EXECUTE format('GRANT SELECT ON dailystats_migrations TO %I', grantee);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON task_daily_stats TO %I', grantee);
    FOR rel IN
        SELECT c.relname, c.relkind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema()
          AND c.relkind IN ('r', 'p', 'S')
          AND (c.relname LIKE 'dailystats\_%' OR c.relname LIKE 'task\_daily\_stats%')
          AND c.relname NOT IN ('dailystats_migrations', 'task_daily_stats')
    LOOP
        IF rel.relkind = 'S' THEN
            EXECUTE format('GRANT USAGE ON SEQUENCE %I TO %I', rel.relname, grantee);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO %I', rel.relname, grantee);
        END IF;
    END LOOP;
END
$grant$;
