-- Issue 15: a day's mark, so a rescan compares only the rows written since. xid_mark is
-- the oldest transaction still running when the day's last complete comparison read
-- the bot's rows (the xmin of its snapshot): every row version written by an older
-- transaction was visible to that comparison, so it is stored as it is. A row written
-- since has a newer xmin; a row deleted or moved to another day since leaves the day's
-- fingerprint short, and the day is compared whole. NULL: no mark (compare whole).
ALTER TABLE dailystats_classified_days ADD COLUMN IF NOT EXISTS xid_mark xid8;
