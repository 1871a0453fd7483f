-- Which receiver a delivery goes to (spec section 6, revision 2): its task's own
-- callback_url ('task', signed with the task's callback_secret only) or the configured
-- default URL ('default', signed with the default secret only). Stored at enqueue time
-- (and again by replay, which re-targets), so the secret never follows a URL it does not
-- belong to.
ALTER TABLE dailystats_deliveries ADD COLUMN IF NOT EXISTS url_source TEXT;

-- Versions queued before this column: only a task without a callback_url can have been
-- sent to the default URL. Everything else counts as the task's own, so the default
-- secret is never used for a URL from partner data.
UPDATE dailystats_deliveries d
SET url_source = CASE WHEN EXISTS (
                          SELECT 1 FROM drama_tasks t
                          WHERE t.task_id = d.task_id AND t.callback_url IS NOT NULL)
                      THEN 'task' ELSE 'default' END
WHERE d.url_source IS NULL;

ALTER TABLE dailystats_deliveries ALTER COLUMN url_source SET DEFAULT 'task';
ALTER TABLE dailystats_deliveries ALTER COLUMN url_source SET NOT NULL;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint WHERE conname = 'dailystats_deliveries_url_source_check'
    ) THEN
        ALTER TABLE dailystats_deliveries ADD CONSTRAINT dailystats_deliveries_url_source_check
            CHECK (url_source IN ('task', 'default'));
    END IF;
END $$;
