-- Issue 15: each completion classified once, kept while its day is open, so a scan only
-- aggregates what is already classified plus the rows that changed. The bot's tables
-- are only read: a changed row is found by its xmin (which every update changes).

-- Per user_tasks row of an open day: what the scan needs of it (the columns of
-- pg_temp.day_completions, less the node, which is read from users at scan time).
--   row_xmin: user_tasks.xmin when classified, as a number; another xmin means the row
--   changed since. saved_at: verified_at, else submitted_at (live_first's time).
CREATE TABLE IF NOT EXISTS dailystats_completions (
    id            INTEGER PRIMARY KEY,   -- user_tasks.id
    stats_date    DATE NOT NULL,
    row_xmin      BIGINT NOT NULL,
    user_id       BIGINT NOT NULL,
    views         BIGINT,
    likes         BIGINT,
    comments      BIGINT,
    shares        BIGINT,
    collects      BIGINT,
    submitted_at  TIMESTAMP NOT NULL,
    saved_at      TIMESTAMP NOT NULL,
    task_id       INTEGER NOT NULL,
    is_short      BOOLEAN NOT NULL,
    platform      TEXT NOT NULL,         -- yt, tt, dy, other
    video_id      TEXT,
    short_link    TEXT                   -- the compared form of a short link
);
CREATE INDEX IF NOT EXISTS dailystats_completions_day_idx
    ON dailystats_completions (stats_date) INCLUDE (row_xmin);

-- Per open day: the settings its rows were classified under, and a fingerprint of the
-- (id, xmin) pairs stored for it (their count and the XOR of their hashes), kept exact
-- by every write to dailystats_completions; the day's rows are unchanged when the
-- bot's rows of the day give the same fingerprint. change_seq counts the changes to
-- the day's inputs; aggregated_seq is the one its last successful scan aggregated.
CREATE TABLE IF NOT EXISTS dailystats_classified_days (
    stats_date       DATE PRIMARY KEY,
    classify_key     TEXT NOT NULL,      -- stats zone and completed statuses
    row_count        BIGINT NOT NULL DEFAULT 0,
    row_xor          BIGINT NOT NULL DEFAULT 0,
    change_seq       BIGINT NOT NULL DEFAULT 1,
    aggregated_seq   BIGINT,
    aggregated_at    TIMESTAMPTZ,        -- when that scan began to aggregate
    -- The newest fetched stats and short-link answer it could read: anything newer is
    -- an input it did not have.
    stats_mark       TIMESTAMPTZ,
    links_mark       TIMESTAMPTZ,
    aggregate_key    TEXT,               -- the settings its numbers and payloads used
    tasks_key        TEXT,               -- fingerprint of drama_tasks it read
    task_count       INTEGER,
    completion_count INTEGER,
    video_count      INTEGER,
    videos_missing   INTEGER,
    videos_stale     INTEGER,
    -- What a rescan with providers would still fetch for the day: the platforms of
    -- its videos without fetched stats (missing, last known; live_first: saved), its
    -- unresolved short links, and when the fetched stats it used go stale.
    fetch_platforms  TEXT[],
    unresolved_links INTEGER,
    fetch_due_at     TIMESTAMPTZ,
    -- The providers whose stop or budget left that scan incomplete: an unchanged
    -- rescan reports them again, so the day stays owed its incomplete rescan.
    incomplete_providers TEXT[]
);

-- A link classified once (its host's platform, the video id it names, whether it is a
-- short link and its compared form), however many completions and days repeat it.
-- Links longer than an index entry allows are classified in place instead.
CREATE TABLE IF NOT EXISTS dailystats_links (
    link        TEXT PRIMARY KEY,
    platform    TEXT,                    -- yt, tt, dy; NULL: none of the three
    video_id    TEXT,
    is_short    BOOLEAN NOT NULL,
    short_link  TEXT,
    seen_on     DATE NOT NULL            -- the latest stats date that used it
);

-- The node of each user of the classified days as last seen, so a node change is
-- noticed without reading a day's rows (a changed node makes every open day changed).
CREATE TABLE IF NOT EXISTS dailystats_user_nodes (
    user_id     BIGINT PRIMARY KEY,
    agent_node  TEXT
);

-- The fingerprint of one (id, xmin) pair.
CREATE OR REPLACE FUNCTION dailystats_row_hash(id bigint, row_xmin bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashint8extended(id, row_xmin)
$$;
