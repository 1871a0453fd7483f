-- Issue 15: a complete day's classified rows grouped once, ahead of its first scan, by
-- the intraday pass, so the nightly scan of a day classified as it happened regroups
-- its groups instead of its rows. Derived data, unlogged like the classification.
-- A day's groups stand for its rows while groups_seq equals its change_seq (every
-- write to the day's classification, a node moved, new settings: change_seq moves on);
-- a day's record deleted or lost takes groups_seq with it.

-- The first completion of a group (spec section 9: the node its video's counts fall
-- to is its earliest completion's user's, submitted_at then lowest id); '' unassigned.
-- Ordered field by field, so groups merge by the least of theirs.
DO $$ BEGIN
    CREATE TYPE dailystats_first AS (submitted_at timestamp, id integer, agent_node text);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- pg_temp.day_groups of a day (create_day_groups): its completions of the three
-- platforms per task and video as classified (an unresolved short link's rows and a
-- lone completion one group each, row_id).
CREATE UNLOGGED TABLE IF NOT EXISTS dailystats_day_groups (
    stats_date   DATE NOT NULL,
    task_id      INTEGER NOT NULL,
    platform     TEXT NOT NULL,
    video_id     TEXT,
    is_short     BOOLEAN NOT NULL,
    short_link   TEXT,
    row_id       INTEGER,
    completions  BIGINT NOT NULL,
    views        BIGINT,
    likes        BIGINT,
    comments     BIGINT,
    shares       BIGINT,
    collects     BIGINT,
    holds        BOOLEAN NOT NULL,
    saved_at     TIMESTAMP,
    first        dailystats_first NOT NULL
);
CREATE INDEX IF NOT EXISTS dailystats_day_groups_day_idx ON dailystats_day_groups (stats_date);

-- pg_temp.day_accounts of a day (create_day_accounts): per task and node, its
-- completions and distinct accounts, in all and per platform.
CREATE UNLOGGED TABLE IF NOT EXISTS dailystats_day_accounts (
    stats_date   DATE NOT NULL,
    task_id      INTEGER NOT NULL,
    agent_node   TEXT NOT NULL,
    completions  BIGINT NOT NULL,
    accounts     BIGINT NOT NULL,
    yt_accounts  BIGINT NOT NULL,
    tt_accounts  BIGINT NOT NULL,
    dy_accounts  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS dailystats_day_accounts_day_idx
    ON dailystats_day_accounts (stats_date);

ALTER TABLE dailystats_classified_days ADD COLUMN IF NOT EXISTS groups_seq BIGINT;
