-- The stores that let a day stay open until settled (spec section 7, "What a rescan may
-- refresh") and the split by agent node (section 9). Both are written by a successful
-- scan in the same transaction as its task_daily_stats rows, and read by settle
-- rescans, `explain`, `report` and `audit`.

-- Per stats date and video: the counts the day's last successful scan used, their
-- source and when they were fetched. A settle rescan keeps these numbers for a video
-- the day already had (even where a scan of another day fetched newer ones since);
-- the audit recomputes with them, so provider drift is not drift.
--   video_key: the video id; for an unresolved short link its compared form prefixed
--   's:'; for a completion whose link names no video, 'c:' || user_tasks.id.
CREATE TABLE IF NOT EXISTS dailystats_day_video_stats (
    stats_date     DATE NOT NULL,
    platform       TEXT NOT NULL,        -- yt, tt, dy
    video_key      TEXT NOT NULL,
    source         TEXT NOT NULL,        -- saved, cache, live, last_known, missing
    view_count     BIGINT,
    like_count     BIGINT,
    comment_count  BIGINT,
    share_count    BIGINT,
    collect_count  BIGINT,
    fetched_at     TIMESTAMPTZ,          -- when fetched counts were fetched; NULL: none used
    run_id         BIGINT,               -- the scan run that wrote the row
    PRIMARY KEY (stats_date, platform, video_key)
);

-- Per task, stats date and agent node: the counts of task_daily_stats, split. The
-- node is users.agent_node at scan time, trimmed; NULL, empty and blank are one
-- "unassigned" node, stored as '' (a primary key column cannot be NULL). The nodes of
-- a task and day add up exactly to its task_daily_stats row; a node left with no
-- completions has no row.
CREATE TABLE IF NOT EXISTS dailystats_node_stats (
    task_id                 INTEGER NOT NULL,
    stats_date              DATE NOT NULL,
    agent_node              TEXT NOT NULL,
    total_account_count     INTEGER NOT NULL DEFAULT 0,
    total_completion_count  INTEGER NOT NULL DEFAULT 0,
    yt_account_count        INTEGER NOT NULL DEFAULT 0,
    yt_view_count           BIGINT NOT NULL DEFAULT 0,
    yt_like_count           BIGINT NOT NULL DEFAULT 0,
    yt_comment_count        BIGINT NOT NULL DEFAULT 0,
    tt_account_count        INTEGER NOT NULL DEFAULT 0,
    tt_view_count           BIGINT NOT NULL DEFAULT 0,
    tt_like_count           BIGINT NOT NULL DEFAULT 0,
    tt_comment_count        BIGINT NOT NULL DEFAULT 0,
    dy_account_count        INTEGER NOT NULL DEFAULT 0,
    dy_view_count           BIGINT NOT NULL DEFAULT 0,
    dy_like_count           BIGINT NOT NULL DEFAULT 0,
    dy_comment_count        BIGINT NOT NULL DEFAULT 0,
    dy_share_count          BIGINT NOT NULL DEFAULT 0,
    dy_collect_count        BIGINT NOT NULL DEFAULT 0,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, stats_date, agent_node)
);

CREATE INDEX IF NOT EXISTS dailystats_node_stats_date_node_idx
    ON dailystats_node_stats (stats_date, agent_node);
