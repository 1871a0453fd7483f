-- Issue 15: the classified rows' index by video is a hash index on the video id. A
-- day's first classification writes a million rows at once, and the b-tree on
-- (stats_date, hashtext(video_id)) took each entry at a random place of a growing
-- tree: 1.0 s of the 2.6 s such an insert took, against 0.5 s for this index
-- (bench/README.md). The scope's lookups (create_day_scope, create_day_scope_rows)
-- are equalities on the id, which a hash index answers; the day and platform filter
-- the few rows of other open days. A hash index holds no NULLs: the rows that name no
-- video are not in it, as they were not in the partial b-tree.
-- An older release's lookups by hashtext(video_id) still run, without this index.
-- Replaying this changes nothing.
DROP INDEX IF EXISTS dailystats_completions_video_idx;
CREATE INDEX IF NOT EXISTS dailystats_completions_video_hash_idx
    ON dailystats_completions USING hash (video_id);
