-- Issue 15: the classification of a completion, written once. dailystats_classified_rows
-- gives the bot's completions of a day (submitted in [day_start, day_end), with one of
-- the completed statuses) classified as the scan stores them: the row's platform (the
-- one it names, else its link's), the link's video when the link is of that platform,
-- read from dailystats_links (a link parsed once; one not there, too long to be kept,
-- is classified in place), and the usable saved counts. A plain SQL function, so
-- PostgreSQL inlines it into the caller's query: a batch of ids joined to it is looked
-- up by id, and a whole day is read by parallel workers. (A function, not a view: a
-- view on user_tasks would stand in the way of the bot's own migrations of it.)
CREATE OR REPLACE FUNCTION dailystats_classified_rows(
    day_start timestamp, day_end timestamp, statuses text[])
RETURNS TABLE (id integer, row_xmin bigint, user_id bigint, views bigint, likes bigint,
               comments bigint, shares bigint, collects bigint, submitted_at timestamp,
               saved_at timestamp, task_id integer, is_short boolean, platform text,
               video_id text, short_link text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT ut.id::integer, ut.xmin::text::bigint, ut.user_id::bigint,
       dailystats_usable(x.view_count, d.details -> 'view_count'),
       dailystats_usable(x.like_count, d.details -> 'like_count'),
       dailystats_usable(x.comment_count, d.details -> 'comment_count'),
       dailystats_usable(x.share_count, d.details -> 'share_count'),
       dailystats_usable(x.collect_count, d.details -> 'collect_count'),
       ut.submitted_at::timestamp, coalesce(ut.verified_at, ut.submitted_at)::timestamp,
       ut.task_id::integer,
       coalesce(k.is_short, false), p.platform, k.video_id,
       CASE WHEN k.is_short THEN k.short_link END
FROM user_tasks ut
LEFT JOIN dailystats_links l ON l.link = ut.submission_link
CROSS JOIN LATERAL (SELECT dailystats_details(ut.verification_details) AS details) d
CROSS JOIN LATERAL (
    SELECT l.link IS NULL AND ut.submission_link IS NOT NULL AS in_place) lc
CROSS JOIN LATERAL (
    SELECT CASE WHEN lc.in_place THEN (dailystats_classify(ut.platform, ut.submission_link)).platform
                ELSE coalesce(dailystats_platform_alias(ut.platform), l.platform, 'other') END
           AS platform) p
CROSS JOIN LATERAL (
    SELECT CASE WHEN lc.in_place THEN (dailystats_classify(ut.platform, ut.submission_link)).video_id
                WHEN l.platform = p.platform THEN l.video_id END AS video_id,
           CASE WHEN lc.in_place THEN (dailystats_classify(ut.platform, ut.submission_link)).is_short
                ELSE l.platform = p.platform AND l.is_short END AS is_short,
           CASE WHEN lc.in_place THEN dailystats_short_link(ut.submission_link)
                ELSE l.short_link END AS short_link) k
LEFT JOIN LATERAL jsonb_to_record(d.details)
    AS x(view_count text, like_count text, comment_count text, share_count text,
         collect_count text) ON true
WHERE ut.submitted_at >= day_start AND ut.submitted_at < day_end
  AND ut.status = ANY(statuses)
$$;

-- A user's agent node as the split counts it (spec section 9): trimmed; NULL, empty and
-- blank are one "unassigned" node, NULL here. Plain SQL: inlined where it is used.
CREATE OR REPLACE FUNCTION dailystats_agent_node(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(btrim(raw, E' \t\n\r\f\x0B'), '')
$$;
