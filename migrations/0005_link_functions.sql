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
-- link that must be resolved first. Called once per completion of the day, so it keeps
-- to cheap string functions: no regular expressions on whole links, few statements.
CREATE OR REPLACE FUNCTION dailystats_classify(
    platform_in text, link text,
    OUT platform text, OUT video_id text, OUT is_short boolean
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    rest text;
    authority text;
    host text;
    path text;
    link_platform text;
    seg text;
BEGIN
    platform := dailystats_platform_alias(platform_in);
    is_short := false;
    rest := btrim(link, E' \t\r\n');
    rest := CASE WHEN strpos(rest, '://') > 0 THEN substr(rest, strpos(rest, '://') + 3) ELSE rest END;
    authority := split_part(split_part(split_part(rest, '/', 1), '?', 1), '#', 1);
    -- The last '@' ends any user info; a ':' starts the port.
    host := lower(split_part(split_part(authority, '@', -1), ':', 1));
    link_platform := CASE
        WHEN host IN ('www.youtube.com', 'youtube.com', 'youtu.be', 'm.youtube.com') THEN 'yt'
        WHEN host IN ('www.tiktok.com', 'tiktok.com', 'm.tiktok.com', 'vm.tiktok.com', 'vt.tiktok.com') THEN 'tt'
        WHEN host IN ('www.douyin.com', 'douyin.com', 'v.douyin.com', 'www.iesdouyin.com', 'iesdouyin.com') THEN 'dy'
        WHEN host LIKE '%.youtube.com' OR host LIKE '%.youtu.be' THEN 'yt'
        WHEN host LIKE '%.tiktok.com' THEN 'tt'
        WHEN host LIKE '%.douyin.com' OR host LIKE '%.iesdouyin.com' THEN 'dy'
    END;
    platform := coalesce(platform, link_platform, 'other');
    IF link_platform IS DISTINCT FROM platform THEN
        RETURN;  -- no link, or a link of another platform: no video
    END IF;
    -- What follows the authority, without the fragment: the path, then '?' and the query.
    rest := split_part(substr(rest, length(authority) + 1), '#', 1);
    path := split_part(rest, '?', 1);

    IF host IN ('vm.tiktok.com', 'vt.tiktok.com', 'v.douyin.com')
       OR (link_platform = 'tt' AND starts_with(path, '/t/')) THEN
        is_short := true;
        RETURN;
    END IF;

    IF link_platform = 'yt' THEN
        seg := CASE
            WHEN host IN ('youtu.be', 'www.youtu.be') THEN dailystats_segment_after(path, '/')
            WHEN host NOT IN ('youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com') THEN NULL
            WHEN path IN ('/watch', '/watch/') THEN
                dailystats_segment_after('&' || substr(rest, length(path) + 2), '&v=')
            WHEN starts_with(path, '/shorts/') THEN dailystats_segment_after(path, '/shorts/')
            WHEN starts_with(path, '/live/') THEN dailystats_segment_after(path, '/live/')
            WHEN starts_with(path, '/embed/') THEN dailystats_segment_after(path, '/embed/')
        END;
        IF length(seg) = 11 AND translate(seg, '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-', '') = '' THEN
            video_id := seg;
        END IF;
        RETURN;
    END IF;

    seg := CASE
        WHEN strpos(path, '/video/') > 0 THEN dailystats_segment_after(path, '/video/')
        WHEN link_platform = 'tt' AND strpos(path, '/photo/') > 0 THEN dailystats_segment_after(path, '/photo/')
        WHEN link_platform = 'tt' AND host = 'm.tiktok.com' AND starts_with(path, '/v/') THEN
            regexp_replace(dailystats_segment_after(path, '/v/'), '[.]html$', '')
        WHEN link_platform = 'dy' AND strpos(path, '/note/') > 0 THEN dailystats_segment_after(path, '/note/')
        WHEN link_platform = 'dy' THEN
            dailystats_segment_after('&' || substr(rest, length(path) + 2), '&modal_id=')
    END;
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
