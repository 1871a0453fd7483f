-- Issue 14: `dailystats report` reads the numbers each delivery version carried without
-- parsing its body. A version's body is fixed when it is queued (resend and replay send
-- the same body again, the sender only signs and timestamps it), so its numbers are a
-- stored column computed from the body by PostgreSQL itself: written with every insert,
-- never out of step with the body, and filled for the versions already queued when this
-- migration adds the column (one rewrite of dailystats_deliveries).

-- The counts one body's item ("stats"[0]) carries, in the report's delivered columns'
-- order (daemon/settle/report.py DELIVERED): account_count, then yt_account, yt_view,
-- yt_like, yt_comment, tt_account, tt_view, tt_like, tt_comment, dy_account, dy_view,
-- dy_like, dy_comment, dy_share, dy_collect. A field the body leaves out is 0 by the
-- payload's rules (spec section 6), as is every field of a body without an item.
CREATE OR REPLACE FUNCTION dailystats_body_counts(body TEXT) RETURNS BIGINT[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    item JSONB := body::jsonb -> 'stats' -> 0;
BEGIN
    IF jsonb_typeof(item) IS DISTINCT FROM 'object' THEN
        item := '{}';
    END IF;
    RETURN ARRAY[
        coalesce((item ->> 'account_count')::bigint, 0),
        coalesce((item ->> 'yt_account_count')::bigint, 0),
        coalesce((item ->> 'yt_view_count')::bigint, 0),
        coalesce((item ->> 'yt_like_count')::bigint, 0),
        coalesce((item ->> 'yt_comment_count')::bigint, 0),
        coalesce((item ->> 'tt_account_count')::bigint, 0),
        coalesce((item ->> 'tt_view_count')::bigint, 0),
        coalesce((item ->> 'tt_like_count')::bigint, 0),
        coalesce((item ->> 'tt_comment_count')::bigint, 0),
        coalesce((item ->> 'dy_account_count')::bigint, 0),
        coalesce((item ->> 'dy_view_count')::bigint, 0),
        coalesce((item ->> 'dy_like_count')::bigint, 0),
        coalesce((item ->> 'dy_comment_count')::bigint, 0),
        coalesce((item ->> 'dy_share_count')::bigint, 0),
        coalesce((item ->> 'dy_collect_count')::bigint, 0)];
END $$;

ALTER TABLE dailystats_deliveries ADD COLUMN IF NOT EXISTS body_counts BIGINT[]
    GENERATED ALWAYS AS (dailystats_body_counts(body)) STORED;

-- The report's latest version of a task and day is its last delivered one or a newer
-- version never delivered: those are few (pending, dead, superseded before sending), so
-- the report finds them by this index instead of reading the range's versions again.
CREATE INDEX IF NOT EXISTS dailystats_deliveries_undelivered_idx
    ON dailystats_deliveries (stats_date, task_id, seq DESC) WHERE delivered_at IS NULL;
