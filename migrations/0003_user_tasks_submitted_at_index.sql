-- The scan reads one day of user_tasks by submitted_at; production has no index but
-- the primary key. Plain CREATE INDEX blocks the bot's writes while it builds: on a
-- very large table, create it CONCURRENTLY by hand first and this becomes a no-op.
CREATE INDEX IF NOT EXISTS dailystats_user_tasks_submitted_at_idx
    ON user_tasks (submitted_at);
