-- One row per task and stats date, with the columns and types the original feature
-- defined: the bot's admin pages read them. IF NOT EXISTS adopts a table the original
-- auto_migrate.py already created.
CREATE TABLE IF NOT EXISTS task_daily_stats (
    id                      SERIAL PRIMARY KEY,
    task_id                 INTEGER NOT NULL,
    project_id              VARCHAR(255),
    external_task_id        INTEGER,
    stats_date              DATE NOT NULL,
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
    webhook_sent            BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_sent_at         TIMESTAMP,
    webhook_response        TEXT,
    webhook_retry_count     INTEGER NOT NULL DEFAULT 0,
    created_at              TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at              TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (task_id, stats_date)
);

CREATE INDEX IF NOT EXISTS task_daily_stats_stats_date_idx ON task_daily_stats (stats_date);
