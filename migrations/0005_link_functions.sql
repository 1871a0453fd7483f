-- The rules of spec sections 2, 3 and 5 that the scan applies to every completion,
-- as functions so that a day's completions are classified where they lie.
-- daemon/links.py holds the same rules in Python; tests/test_links.py checks that
-- both give the same answer. CREATE OR REPLACE: replaying this file is harmless.

-- The platform a user_tasks.platform value names ('yt', 'tt', 'dy'), or NULL.
CREATE OR REPLACE FUNCTION dailystats_platform_alias(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE lower(btrim(value, E' \t\r\n'))
        WHEN 'youtube' THEN 'yt' WHEN 'yt' THEN 'yt'
        WHEN 'tiktok' THEN 'tt' WHEN 'tt' THEN 'tt'
        WHEN 'douyin' THEN 'dy' WHEN 'dy' THEN 'dy' WHEN '抖音' THEN 'dy'
    END
$$;

-- The text after the first `marker`, up to the next '/', '?', '#' or '&'.
CREATE OR REPLACE FUNCTION dailystats_segment_after(text_in text, marker text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(text_in, marker) > 0 THEN
        split_part(split_part(split_part(split_part(
            substr(text_in, strpos(text_in, marker) + length(marker)),
            '/', 1), '?', 1), '#', 1), '&', 1)
    END
$$;

-- Classify one completion: its platform ('yt', 'tt', 'dy', 'other'), the video id its
-- link names on that platform (NULL when none), and whether the link is a short share
-- link that must be resolved first.
CREATE OR REPLACE FUNCTION dailystats_classify(
    platform_in text, link text,
    OUT platform text, OUT video_id text, OUT is_short boolean
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    rest text;
    authority text;
    tail text;
    host text;
    path text;
    query text;
    link_platform text;
    seg text;
BEGIN
    platform := dailystats_platform_alias(platform_in);
    is_short := false;
    IF link IS NULL THEN
        platform := coalesce(platform, 'other');
        RETURN;
    END IF;
    rest := btrim(link, E' \t\r\n');
    IF strpos(rest, '://') > 0 THEN
        rest := substr(rest, strpos(rest, '://') + 3);
    END IF;
    authority := split_part(split_part(split_part(rest, '/', 1), '?', 1), '#', 1);
    tail := substr(rest, length(authority) + 1);
    host := lower(split_part(reverse(split_part(reverse(authority), '@', 1)), ':', 1));
    tail := split_part(tail, '#', 1);
    path := split_part(tail, '?', 1);
    query := CASE WHEN strpos(tail, '?') > 0 THEN substr(tail, strpos(tail, '?') + 1) ELSE '' END;

    link_platform := CASE
        WHEN host IN ('youtube.com', 'youtu.be') OR host LIKE '%.youtube.com' OR host LIKE '%.youtu.be' THEN 'yt'
        WHEN host = 'tiktok.com' OR host LIKE '%.tiktok.com' THEN 'tt'
        WHEN host IN ('douyin.com', 'iesdouyin.com') OR host LIKE '%.douyin.com' OR host LIKE '%.iesdouyin.com' THEN 'dy'
    END;
    platform := coalesce(platform, link_platform, 'other');
    IF link_platform IS NULL OR link_platform <> platform THEN
        RETURN;
    END IF;

    IF host IN ('vm.tiktok.com', 'vt.tiktok.com', 'v.douyin.com')
       OR (link_platform = 'tt' AND starts_with(path, '/t/')) THEN
        is_short := true;
        RETURN;
    END IF;

    IF link_platform = 'yt' THEN
        IF host IN ('youtu.be', 'www.youtu.be') THEN
            seg := dailystats_segment_after(path, '/');
        ELSIF host IN ('youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com') THEN
            IF path IN ('/watch', '/watch/') THEN
                seg := dailystats_segment_after('&' || query, '&v=');
            ELSIF starts_with(path, '/shorts/') THEN
                seg := dailystats_segment_after(path, '/shorts/');
            ELSIF starts_with(path, '/live/') THEN
                seg := dailystats_segment_after(path, '/live/');
            ELSIF starts_with(path, '/embed/') THEN
                seg := dailystats_segment_after(path, '/embed/');
            END IF;
        END IF;
        IF length(seg) = 11 AND translate(seg, '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-', '') = '' THEN
            video_id := seg;
        END IF;
        RETURN;
    END IF;

    IF strpos(path, '/video/') > 0 THEN
        seg := dailystats_segment_after(path, '/video/');
    ELSIF link_platform = 'tt' AND strpos(path, '/photo/') > 0 THEN
        seg := dailystats_segment_after(path, '/photo/');
    ELSIF link_platform = 'tt' AND host = 'm.tiktok.com' AND starts_with(path, '/v/') THEN
        seg := dailystats_segment_after(path, '/v/');
        IF right(seg, 5) = '.html' THEN
            seg := left(seg, -5);
        END IF;
    ELSIF link_platform = 'dy' AND strpos(path, '/note/') > 0 THEN
        seg := dailystats_segment_after(path, '/note/');
    ELSIF link_platform = 'dy' THEN
        seg := dailystats_segment_after('&' || query, '&modal_id=');
    END IF;
    IF seg <> '' AND translate(seg, '0123456789', '') = '' THEN
        video_id := seg;
    END IF;
END
$$;

-- verification_details as an object: the column is JSONB in current deployments and
-- TEXT holding JSON (or junk) in older ones; junk reads as no details.
CREATE OR REPLACE FUNCTION dailystats_details(details jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(details) = 'object' THEN details END
$$;

CREATE OR REPLACE FUNCTION dailystats_details(details text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    parsed jsonb;
BEGIN
    IF details IS NULL OR left(btrim(details), 1) <> '{' THEN
        RETURN NULL;
    END IF;
    parsed := details::jsonb;
    RETURN CASE WHEN jsonb_typeof(parsed) = 'object' THEN parsed END;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- A usable count (spec section 3), from a count's text as jsonb_to_record gives it: a
-- JSON integer, or a string of decimal digits only, from 0 to 2^63-1. Anything else
-- (negative, fractional, boolean, nested, too large, empty) is NULL: no data.
CREATE OR REPLACE FUNCTION dailystats_usable(count_text text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN count_text <> ''
         AND translate(count_text, '0123456789', '') = ''
         AND (length(ltrim(count_text, '0')) < 19
              OR (length(ltrim(count_text, '0')) = 19
                  AND ltrim(count_text, '0') COLLATE "C" <= '9223372036854775807'))
        THEN count_text::bigint
    END
$$;

-- A sum as BIGINT, saturating at its ceiling: counts of up to 2^63-1 each are usable,
-- and their sum must never fail the scan.
CREATE OR REPLACE FUNCTION dailystats_clamp(total numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(coalesce(total, 0), 9223372036854775807)::bigint
$$;
