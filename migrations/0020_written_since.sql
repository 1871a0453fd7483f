-- Issue 15: a rescan's read of the day's (id, xmin) pairs also lists the rows written
-- since the day's mark, in the same parallel pass (classify_fingerprint). age() would
-- keep that read from parallel workers, and array_agg has no partial form before
-- PostgreSQL 16: these two replace them there.

-- Whether a row version was written at or after the mark: x is at most half the xid
-- ring after mark32 (the low 32 bits of the mark, at most a billion transactions old).
-- A frozen or special xmin may read as written since: a wider list is only compared.
CREATE OR REPLACE FUNCTION dailystats_written_since(x xid, mark32 bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (x::text::bigint - mark32 + 4294967296) % 4294967296 < 2147483648
$$;

-- The ids of a parallel read: each worker lists its own, the leader joins the lists.
DO $$ BEGIN
    CREATE AGGREGATE dailystats_id_list(integer) (
        SFUNC = array_append, STYPE = integer[], COMBINEFUNC = array_cat,
        INITCOND = '{}', PARALLEL = SAFE);
EXCEPTION WHEN duplicate_function THEN NULL;
END $$;
