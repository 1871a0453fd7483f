-- Named queries of daemon.webhook: the webhook outbox.
-- Each under a "-- name: <name> --" header, loaded by daemon/store/queries.py and called by name.
-- Times are UTC (the pool sets it).

-- ======================================================================= deliveries
-- The webhook outbox (daemon/webhook/outbox.py). A delivery is one payload version of
-- one task and day; "latest" means highest seq.

-- name: deliveries_stage_candidates --
-- Every stats row of a day (of the tasks $3 only, when not NULL) with what its payload
-- is made of, and the url and body of the latest delivery of that task and day (NULL:
-- none yet). Staged whole before any is queued, then read a page at a time
-- (deliveries_staged_page): a cursor on this query would look the latest
-- deliveries up while the pages before it insert new ones, and where the table was
-- planned as empty (a fresh one) each lookup read all of them again (3,000,000
-- completions: 15 s, rising page by page).
CREATE TEMP TABLE day_outbox ON COMMIT DROP AS
SELECT s.task_id,
       CASE WHEN t.task_id IS NULL THEN s.project_id ELSE t.project_id END AS project_id,
       CASE WHEN t.task_id IS NULL THEN s.external_task_id ELSE t.external_task_id END
           AS external_task_id,
       t.duration,
       t.callback_url,
       s.total_account_count, s.total_completion_count,
       s.yt_account_count, s.yt_view_count, s.yt_like_count, s.yt_comment_count,
       s.tt_account_count, s.tt_view_count, s.tt_like_count, s.tt_comment_count,
       s.dy_account_count, s.dy_view_count, s.dy_like_count, s.dy_comment_count,
       s.dy_share_count, s.dy_collect_count,
       latest.url AS latest_url,
       latest.url_source AS latest_url_source,
       latest.body AS latest_body,
       -- $2 WEBHOOK_INCLUDE_NODES: the task's split by agent node (spec section 9), as
       -- the scan wrote it in this transaction (a task without completions: none).
       CASE WHEN $2 THEN (SELECT coalesce(json_agg(n), '[]') FROM dailystats_node_stats n
                          WHERE n.task_id = s.task_id AND n.stats_date = s.stats_date)
       END AS nodes
FROM task_daily_stats s
LEFT JOIN drama_tasks t ON t.task_id = s.task_id
LEFT JOIN LATERAL (
    SELECT d.url, d.url_source, d.body
    FROM dailystats_deliveries d
    WHERE d.task_id = s.task_id AND d.stats_date = s.stats_date
    ORDER BY d.seq DESC
    LIMIT 1
) latest ON TRUE
WHERE s.stats_date = $1 AND ($3::int[] IS NULL OR s.task_id = ANY($3::int[]))

-- name: deliveries_index_staged --
ALTER TABLE pg_temp.day_outbox ADD PRIMARY KEY (task_id)

-- name: deliveries_staged_page --
-- The page after task $1, in task order, as the stats rows are locked
-- (deliveries_reset_stats_webhook); $2 rows.
SELECT * FROM pg_temp.day_outbox WHERE task_id > $1 ORDER BY task_id LIMIT $2

-- name: deliveries_drop_staged --
DROP TABLE IF EXISTS pg_temp.day_outbox

-- name: deliveries_supersede_pending --
-- Before a new version is queued: the older one still waiting will never be sent. One
-- already in flight keeps its claimed_until, so no newer version is claimed before it
-- has finished (see deliveries_claim).
UPDATE dailystats_deliveries
SET status = 'superseded', updated_at = now()
WHERE status = 'pending' AND stats_date = $1 AND task_id = ANY($2::int[])

-- name: deliveries_insert --
-- $5 url_source per delivery: 'task' (the task's own callback_url) or 'default'.
INSERT INTO dailystats_deliveries (task_id, stats_date, url, body, next_attempt_at, url_source)
SELECT u.task_id, $1::date, u.url, u.body, now(), u.url_source
FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) AS u(task_id, url, body, url_source)

-- name: deliveries_reset_stats_webhook --
-- Runs before deliveries_supersede_pending: task_daily_stats rows are locked before
-- dailystats_deliveries rows, in the scan and in the sender alike (no deadlock). A row
-- already reset (a day's first aggregation wrote it so) is neither rewritten nor
-- locked: the scan then never waits for it, so it is in no cycle either.
UPDATE task_daily_stats
SET webhook_sent = FALSE, webhook_retry_count = 0
WHERE stats_date = $1 AND task_id = ANY($2::int[])
  AND (webhook_sent IS DISTINCT FROM FALSE OR webhook_retry_count IS DISTINCT FROM 0)

-- name: deliveries_clock --
SELECT now()

-- name: deliveries_claim --
-- $1 limit, $2 lease seconds, $3 force (due or not), $4 cutoff (NULL: none): only rows
-- last touched before it, so one pass tries each delivery at most once.
-- A delivery is not claimed while another version of its task and day is in flight:
-- an older version must never land after a newer one.
WITH due AS (
    SELECT d.id
    FROM dailystats_deliveries d
    WHERE d.status = 'pending'
      AND ($3::boolean OR d.next_attempt_at <= now())
      AND (d.claimed_until IS NULL OR d.claimed_until <= now())
      AND ($4::timestamptz IS NULL OR d.updated_at < $4::timestamptz)
      AND NOT EXISTS (
          SELECT 1
          FROM dailystats_deliveries o
          WHERE o.task_id = d.task_id
            AND o.stats_date = d.stats_date
            AND o.id <> d.id
            AND o.claimed_until > now()
      )
    ORDER BY d.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE dailystats_deliveries d
SET claimed_until = now() + make_interval(secs => $2::float8),
    claim_token = gen_random_uuid(),
    updated_at = now()
FROM due
WHERE d.id = due.id
RETURNING d.id, d.task_id, d.stats_date, d.url, d.url_source, d.body, d.attempts,
          d.claim_token,
          -- The task's receiver now, URL and secret read together (spec section 6).
          (SELECT t.callback_url FROM drama_tasks t WHERE t.task_id = d.task_id)
              AS callback_url,
          (SELECT t.callback_secret FROM drama_tasks t WHERE t.task_id = d.task_id)
              AS callback_secret

-- name: deliveries_record_attempt --
-- Run in one transaction after deliveries_lock_stats_row, which locks the stats row
-- first: the scan locks task_daily_stats before dailystats_deliveries, and so must we.
-- One statement: the delivery and, when it is still the latest
-- version of its task and day (not superseded meanwhile), the seed's columns in
-- task_daily_stats. Nothing is written when another sender holds the claim now.
-- $1 id, $2 claim token, $3 new status, $4 next attempt, $5 status code, $6 error,
-- $7 response, $8 webhook_response for task_daily_stats, $9 url and $10 url_source the
-- attempt went to.
WITH upd AS (
    UPDATE dailystats_deliveries d
    SET attempts = d.attempts + 1,
        status = CASE WHEN d.status = 'superseded' THEN 'superseded' ELSE $3::text END,
        next_attempt_at = COALESCE($4::timestamptz, d.next_attempt_at),
        last_status_code = $5::int,
        last_error = $6::text,
        last_response = $7::text,
        delivered_at = CASE WHEN $3::text = 'delivered' THEN now() ELSE d.delivered_at END,
        last_attempt_at = now(),
        claimed_until = NULL,
        claim_token = NULL,
        -- where this attempt went ($9, $10; NULL: no receiver, the last one stays)
        url = coalesce($9::text, d.url),
        url_source = coalesce($10::text, d.url_source),
        updated_at = now()
    WHERE d.id = $1 AND d.claim_token = $2
    RETURNING d.task_id, d.stats_date, d.status, d.attempts
),
stats AS (
    UPDATE task_daily_stats s
    SET webhook_sent = (upd.status = 'delivered'),
        webhook_sent_at = CASE WHEN upd.status = 'delivered'
                               THEN now() AT TIME ZONE 'UTC' ELSE s.webhook_sent_at END,
        webhook_response = $8::text,
        -- failed attempts so far: every attempt but a successful last one
        webhook_retry_count = upd.attempts - CASE WHEN upd.status = 'delivered' THEN 1 ELSE 0 END
    FROM upd
    WHERE s.task_id = upd.task_id AND s.stats_date = upd.stats_date
      AND upd.status <> 'superseded'
    RETURNING s.id
)
SELECT upd.status, upd.attempts, (SELECT count(*) FROM stats) AS stats_rows
FROM upd

-- name: deliveries_replay --
-- Dead deliveries back to pending, due now, with a fresh attempt budget, sent to the
-- task's current callback_url when it has one (the operator may have fixed it). One a
-- newer version of its task and day replaced is left dead and reported (replaced).
-- $1 one id (NULL: any), $2 stats_date from (NULL: any).
WITH target AS (
    SELECT d.id, d.task_id, d.stats_date,
           EXISTS (
               SELECT 1
               FROM dailystats_deliveries n
               WHERE n.task_id = d.task_id AND n.stats_date = d.stats_date AND n.seq > d.seq
           ) AS replaced
    FROM dailystats_deliveries d
    WHERE d.status = 'dead'
      AND ($1::uuid IS NULL OR d.id = $1::uuid)
      AND ($2::date IS NULL OR d.stats_date >= $2::date)
    FOR UPDATE OF d
),
upd AS (
    UPDATE dailystats_deliveries d
    SET status = 'pending',
        attempts = 0,
        next_attempt_at = now(),
        claimed_until = NULL,
        claim_token = NULL,
        url = COALESCE((SELECT t.callback_url FROM drama_tasks t WHERE t.task_id = d.task_id),
                       d.url),
        -- re-targeted to the task's own URL: its own secret signs from now on
        url_source = CASE WHEN (SELECT t.callback_url FROM drama_tasks t
                                WHERE t.task_id = d.task_id) IS NOT NULL
                          THEN 'task' ELSE d.url_source END,
        updated_at = now()
    FROM target
    WHERE d.id = target.id AND NOT target.replaced
    RETURNING d.id
)
SELECT target.id, target.task_id, target.stats_date, target.replaced
FROM target
ORDER BY target.stats_date, target.task_id

-- name: deliveries_get --
SELECT id, task_id, stats_date, url, body, status, attempts, next_attempt_at, claimed_until,
       last_status_code, last_error, last_response, created_at, updated_at, delivered_at,
       last_attempt_at, seq
FROM dailystats_deliveries
WHERE id = $1

-- name: deliveries_count_by_status --
SELECT status,
       count(*) AS n,
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()) AS due
FROM dailystats_deliveries
GROUP BY status

-- name: deliveries_oldest_pending --
SELECT id, task_id, stats_date, next_attempt_at, attempts, created_at, last_error
FROM dailystats_deliveries
WHERE status = 'pending'
ORDER BY created_at, seq
LIMIT 1

-- ===== webhook: lock order (D1)

-- name: deliveries_lock_stats_row --
-- The sender's first statement when it records an attempt: the stats row before the
-- delivery row, the order the scan's transaction takes them in.
-- $1 task id, $2 stats date.
SELECT 1
FROM task_daily_stats
WHERE task_id = $1 AND stats_date = $2
FOR UPDATE

-- ===== resend (spec section 8): a delivered day again, X2C having lost it

-- name: deliveries_resend_lock_stats --
-- The stats rows first, the order the scan and the sender lock them in: no scan queues
-- a new version of these task-days while their delivered version goes back in the queue.
-- $1 stats date, $2 one task (NULL: every task of the day).
SELECT 1 FROM task_daily_stats
WHERE stats_date = $1 AND ($2::int IS NULL OR task_id = $2::int)
ORDER BY task_id
FOR UPDATE

-- name: deliveries_resend --
-- Each task's last delivered version of the day (the highest version with a 2xx
-- recorded) back in the queue under its own id, due now, with a fresh attempt budget,
-- sent to the task's current callback_url when it has one (as replay does); the sender
-- timestamps and signs it anew at each attempt. Only where it is also the latest
-- version: a task whose latest version is pending or dead is reported (`deliver`,
-- `replay`), not resent, so no older payload is ever sent after a newer one. One in
-- flight right now is reported too. $1 stats date, $2 one task (NULL: every task).
WITH latest AS (
    SELECT DISTINCT ON (d.task_id) d.id, d.task_id, d.status, d.delivered_at, d.claimed_until
    FROM dailystats_deliveries d
    WHERE d.stats_date = $1 AND ($2::int IS NULL OR d.task_id = $2::int)
    ORDER BY d.task_id, d.seq DESC
),
delivered AS (
    SELECT DISTINCT ON (d.task_id) d.id, d.task_id
    FROM dailystats_deliveries d
    WHERE d.stats_date = $1 AND ($2::int IS NULL OR d.task_id = $2::int)
      AND d.delivered_at IS NOT NULL
    ORDER BY d.task_id, d.seq DESC
),
target AS (
    SELECT l.task_id, l.id AS latest_id, l.status AS latest_status, v.id AS delivered_id,
           l.status = 'delivered' AND v.id = l.id
               AND (l.claimed_until IS NULL OR l.claimed_until <= now()) AS resend
    FROM latest l
    LEFT JOIN delivered v ON v.task_id = l.task_id
),
upd AS (
    UPDATE dailystats_deliveries d
    SET status = 'pending',
        attempts = 0,
        next_attempt_at = now(),
        claimed_until = NULL,
        claim_token = NULL,
        url = COALESCE((SELECT t.callback_url FROM drama_tasks t WHERE t.task_id = d.task_id),
                       d.url),
        url_source = CASE WHEN (SELECT t.callback_url FROM drama_tasks t
                                WHERE t.task_id = d.task_id) IS NOT NULL
                          THEN 'task' ELSE d.url_source END,
        updated_at = now()
    FROM target
    WHERE d.id = target.latest_id AND target.resend
    RETURNING d.id
)
SELECT target.task_id, target.latest_id, target.latest_status, target.delivered_id,
       target.resend
FROM target
ORDER BY target.task_id

