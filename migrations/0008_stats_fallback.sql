-- Spec revision 2, section 3: last known stats, per-count merges, short links grouped
-- while unresolved, integral JSON numbers. Replay-safe (IF NOT EXISTS / OR REPLACE).

-- How many videos of a run were counted on their last known (stale) stats.
ALTER TABLE dailystats_scan_runs ADD COLUMN IF NOT EXISTS videos_stale INTEGER;

-- A cached row whose last fetch left a count unreported (a Douyin video whose play-count
-- or detail call failed) keeps that count from an older fetch (it is merged per count),
-- and is not fresh: its video is asked for again at the next scan.
ALTER TABLE dailystats_video_stats ADD COLUMN IF NOT EXISTS partial BOOLEAN NOT NULL DEFAULT false;

-- A usable count (spec section 3) from a JSON value: an integral JSON number (100000,
-- 1e5, 100000.0; -0 is 0) or a string of decimal digits only, from 0 to 2^63-1.
-- Anything else (negative, fractional, boolean, nested, too large, "1e5", " 12") is NULL.
-- daemon/fetch/models.py usable_count is the same rule in Python (parity-tested).
CREATE OR REPLACE FUNCTION dailystats_usable(count_json jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(count_json)
        WHEN 'string' THEN dailystats_usable(count_json #>> '{}')
        WHEN 'number' THEN
            CASE WHEN count_json::numeric BETWEEN 0 AND 9223372036854775807
                  AND count_json::numeric = trunc(count_json::numeric)
                 THEN count_json::numeric::bigint END
    END
$$;

-- The same, for the scan: count_text is the count as jsonb_to_record gives it as text
-- (a string's content, a number's digits), count_json the JSON value itself. Digits, the
-- common case, take the cheap text rule; only the rest (100000.0, "1e5", true, ...)
-- needs the JSON type. Both are plain SQL so PostgreSQL inlines them into the scan.
CREATE OR REPLACE FUNCTION dailystats_usable(count_text text, count_json jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN count_text IS NULL THEN NULL
                WHEN translate(count_text, '0123456789', '') = '' THEN dailystats_usable(count_text)
                ELSE dailystats_usable(count_json) END
$$;

-- The form two short links are compared in while unresolved, and the key they are
-- remembered by: trimmed, scheme dropped (https:// written), host lower-cased (ASCII),
-- no trailing slash. daemon/links.py short_link_key is the same rule (parity-tested).
CREATE OR REPLACE FUNCTION dailystats_short_link(link text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    rest text;
    authority text;
BEGIN
    rest := btrim(link, E' \t\r\n');
    rest := CASE WHEN strpos(rest, '://') > 0 THEN substr(rest, strpos(rest, '://') + 3) ELSE rest END;
    authority := split_part(split_part(split_part(rest, '/', 1), '?', 1), '#', 1);
    RETURN rtrim('https://'
                 || translate(authority, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                 || substr(rest, length(authority) + 1), '/');
END
$$;

-- Links remembered before this migration were keyed as written: copy them under their
-- compared form. Ones remembered as "no video" may have been a block page or a 404 from
-- the shortener, which are no longer taken as answers: forget them, they are asked again.
INSERT INTO dailystats_short_links (link, platform, video_id, resolved_at)
SELECT DISTINCT ON (dailystats_short_link(link)) dailystats_short_link(link), platform,
       video_id, resolved_at
FROM dailystats_short_links
WHERE video_id IS NOT NULL
ORDER BY dailystats_short_link(link), resolved_at DESC
ON CONFLICT (link) DO NOTHING;
DELETE FROM dailystats_short_links
WHERE video_id IS NULL OR link <> dailystats_short_link(link);
