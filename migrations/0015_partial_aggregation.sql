-- Issue 15, second step: a rescan aggregates only the tasks its changed rows touch.
-- The classification notes each changed row (as it was and as it is) under the day's
-- change counter; a scan whose day was aggregated before, with nothing else changed,
-- re-aggregates the tasks of those rows and the tasks that share their videos.

-- A changed classified row, before and after (one row each), under the change_seq of
-- the batch that changed it: its task and video are what a rescan must look at again.
CREATE TABLE IF NOT EXISTS dailystats_day_changes (
    stats_date  DATE NOT NULL,
    change_seq  BIGINT NOT NULL,
    id          INTEGER NOT NULL,     -- user_tasks.id
    task_id     INTEGER NOT NULL,
    platform    TEXT NOT NULL,
    video_id    TEXT,
    is_short    BOOLEAN NOT NULL,
    short_link  TEXT
);
CREATE INDEX IF NOT EXISTS dailystats_day_changes_day_idx
    ON dailystats_day_changes (stats_date, change_seq);

-- The change_seq of the latest change that was not noted row by row (a node moved,
-- rows classified afresh): a day aggregated before it is aggregated whole again. The
-- days classified before this migration noted nothing: each is aggregated whole once.
ALTER TABLE dailystats_classified_days ADD COLUMN IF NOT EXISTS whole_seq BIGINT;
UPDATE dailystats_classified_days SET whole_seq = change_seq WHERE whole_seq IS NULL;
ALTER TABLE dailystats_classified_days ALTER COLUMN whole_seq SET DEFAULT 1;
ALTER TABLE dailystats_classified_days ALTER COLUMN whole_seq SET NOT NULL;

-- The platforms of the day's videos with no stats at all at its last aggregation: what
-- a settle rescan would still fetch (it keeps stale fetched stats as they are).
ALTER TABLE dailystats_classified_days ADD COLUMN IF NOT EXISTS missing_platforms TEXT[];

-- Per task and day, what the last aggregation counted (tasks with completions, known
-- to drama_tasks or not): a partial aggregation's day totals are their sums.
CREATE TABLE IF NOT EXISTS dailystats_day_tasks (
    stats_date       DATE NOT NULL,
    task_id          INTEGER NOT NULL,
    completion_count INTEGER NOT NULL,
    video_count      INTEGER NOT NULL,
    videos_missing   INTEGER NOT NULL,
    videos_stale     INTEGER NOT NULL,
    PRIMARY KEY (stats_date, task_id)
);

-- A day's classified rows by task (which also serves reading a day whole, so the
-- index by day alone goes), by video (a hash of its id: an integer index costs a
-- million-row day's first classification far less than one of the ids themselves),
-- and its short links: the scope's lookups.
CREATE INDEX IF NOT EXISTS dailystats_completions_task_idx
    ON dailystats_completions (stats_date, task_id);
DROP INDEX IF EXISTS dailystats_completions_day_idx;
CREATE INDEX IF NOT EXISTS dailystats_completions_video_idx
    ON dailystats_completions (stats_date, hashtext(video_id)) WHERE video_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS dailystats_completions_short_idx
    ON dailystats_completions (stats_date) WHERE is_short;
