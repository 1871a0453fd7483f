-- The webhook outbox, second part: what the sender needs beyond 0004.

-- seq orders the versions of one task and day by insertion. created_at is the
-- inserting transaction's start time, so two scans of one day could order their
-- versions by when they began rather than when they wrote; "the latest version" must
-- mean the one written last.
ALTER TABLE dailystats_deliveries
    ADD COLUMN IF NOT EXISTS seq BIGINT GENERATED ALWAYS AS IDENTITY;

-- A fresh token per claim: a sender whose lease ran out and was re-claimed by another
-- must not overwrite the other's record of the attempt.
ALTER TABLE dailystats_deliveries ADD COLUMN IF NOT EXISTS claim_token UUID;

-- When the last attempt finished, for operators answering "when did you last try?".
ALTER TABLE dailystats_deliveries ADD COLUMN IF NOT EXISTS last_attempt_at TIMESTAMPTZ;

-- The latest version of a task and day, and the claim check ("is another version of
-- this task and day in flight?"), both look rows up by task, day and seq.
CREATE INDEX IF NOT EXISTS dailystats_deliveries_task_day_seq_idx
    ON dailystats_deliveries (task_id, stats_date, seq DESC);
