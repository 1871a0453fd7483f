-- The daemon's own state. Everything a crash can interrupt is recoverable from here.

-- One row per scan of one stats date: what ran, when, and what it found.
CREATE TABLE IF NOT EXISTS dailystats_scan_runs (
    id                  BIGSERIAL PRIMARY KEY,
    stats_date          DATE NOT NULL,
    trigger             TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    started_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at         TIMESTAMPTZ,
    task_count          INTEGER,
    completion_count    INTEGER,
    video_count         INTEGER,
    videos_missing      INTEGER,
    videos_fetched      INTEGER,
    videos_failed       INTEGER,
    deliveries_queued   INTEGER,
    error               TEXT
);
CREATE INDEX IF NOT EXISTS dailystats_scan_runs_date_idx
    ON dailystats_scan_runs (stats_date, started_at DESC);

-- Short share links and the video each resolved to (video_id NULL: resolved, but to
-- no video). A link that failed to resolve is not stored and is tried again.
CREATE TABLE IF NOT EXISTS dailystats_short_links (
    link          TEXT PRIMARY KEY,
    platform      TEXT CHECK (platform IN ('yt', 'tt', 'dy')),
    video_id      TEXT,
    resolved_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Stats fetched from the platforms' APIs, the second source of spec section 3.
-- status 'gone': deleted or private, not asked for again while fresh.
CREATE TABLE IF NOT EXISTS dailystats_video_stats (
    platform       TEXT NOT NULL CHECK (platform IN ('yt', 'tt', 'dy')),
    video_id       TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('ok', 'gone')),
    view_count     BIGINT,
    like_count     BIGINT,
    comment_count  BIGINT,
    share_count    BIGINT,
    collect_count  BIGINT,
    fetched_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, video_id)
);

-- The webhook outbox: one row per payload version of one task and day. Written in
-- the scan's transaction, sent by the retry loop, never deleted.
CREATE TABLE IF NOT EXISTS dailystats_deliveries (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id           INTEGER NOT NULL,
    stats_date        DATE NOT NULL,
    url               TEXT NOT NULL,
    body              TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'dead', 'superseded')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_until     TIMESTAMPTZ,
    last_status_code  INTEGER,
    last_error        TEXT,
    last_response     TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at      TIMESTAMPTZ
);
-- At most one version of a task and day waits to be sent.
CREATE UNIQUE INDEX IF NOT EXISTS dailystats_deliveries_one_pending_idx
    ON dailystats_deliveries (task_id, stats_date) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS dailystats_deliveries_due_idx
    ON dailystats_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS dailystats_deliveries_task_day_idx
    ON dailystats_deliveries (task_id, stats_date, created_at DESC);
CREATE INDEX IF NOT EXISTS dailystats_deliveries_dead_idx
    ON dailystats_deliveries (stats_date) WHERE status = 'dead';
