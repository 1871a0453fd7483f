-- Issue 15: the classification is derived data, rebuilt from the bot's rows whenever it
-- is missing, so its tables are unlogged: a day's first classification writes a
-- million rows and a third as many links without their write-ahead log (a third less
-- time, measured in bench/README.md). After a crash of PostgreSQL (not a clean stop)
-- they come back empty, together: every day's record is gone with its rows, so its next
-- scan classifies it afresh and aggregates it whole; the numbers, deliveries and runs
-- (logged tables) are never at stake, and a standby has none of these tables' rows
-- (a promoted standby classifies afresh too). None of them is referenced by a logged
-- table. SET UNLOGGED on an unlogged table changes nothing: replaying this is harmless.
ALTER TABLE dailystats_completions SET UNLOGGED;
ALTER TABLE dailystats_links SET UNLOGGED;
ALTER TABLE dailystats_classified_days SET UNLOGGED;
ALTER TABLE dailystats_user_nodes SET UNLOGGED;
ALTER TABLE dailystats_day_changes SET UNLOGGED;
ALTER TABLE dailystats_day_tasks SET UNLOGGED;
