"""The pool's connections plan each run of a statement for its own parameters."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from daemon.settings import DEFAULT_COMPLETED_STATUSES
from daemon.store.db import Db
from daemon.store.queries import QUERIES


async def test_a_repeated_day_statement_is_never_planned_generically(db: Db) -> None:
    # The intraday pass runs the same day-range statements every few minutes on
    # long-lived connections. PostgreSQL's generic plan (chosen after five runs)
    # guesses a range of a day holds a few rows: a million-row day read serially, or
    # through nested loops. Every run must be planned for the day it reads.
    day = date(2024, 12, 9)
    args = (datetime(2024, 12, 9), datetime(2024, 12, 10), list(DEFAULT_COMPLETED_STATUSES))
    async with db.connection() as conn:
        for _ in range(8):
            async with conn.conn.transaction():
                await conn.fetchrow("classify_fingerprint", *args, day, 123)
        row = await conn.conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            QUERIES["classify_fingerprint"],
        )
    assert row is not None
    assert row["generic_plans"] == 0
    assert row["custom_plans"] == 8


async def test_a_single_row_read_runs_its_parallel_plan_with_workers(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The day's fingerprint is one row read by parallel workers. asyncpg's own fetchrow
    # and fetchval ask for one row, and PostgreSQL then runs a parallel plan in the
    # leader alone: the named-query manager fetches the row whole instead.
    probe = (
        "SELECT count(*) > 0 AS by_workers FROM dailystats_test_rows"
        " WHERE dailystats_test_pid(g) <> $1"
    )
    monkeypatch.setitem(QUERIES, "test_parallel_probe", probe)
    async with db.connection() as conn:
        # plpgsql: not inlined, so the pid is of the process that scans the row.
        await conn.conn.execute(
            "CREATE FUNCTION dailystats_test_pid(integer) RETURNS integer"
            " LANGUAGE plpgsql PARALLEL SAFE AS 'BEGIN RETURN pg_backend_pid(); END'"
        )
        await conn.conn.execute(
            "CREATE TABLE dailystats_test_rows AS SELECT g FROM generate_series(1, 50000) g;"
            " ANALYZE dailystats_test_rows"
        )
        # Planned parallel whatever the table's size; the leader scans nothing itself,
        # so only rows read by a worker can answer true.
        for setting in (
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
            "min_parallel_table_scan_size = 0",
            "max_parallel_workers_per_gather = 2",
            "parallel_leader_participation = off",
        ):
            await conn.conn.execute(f"SET {setting}")
        leader = await conn.conn.fetchval("SELECT pg_backend_pid()")
        plan = await conn.conn.fetchval("EXPLAIN (FORMAT JSON) " + probe, leader)
        assert "Gather" in plan
        assert await conn.fetchval("test_parallel_probe", leader) is True
        row = await conn.fetchrow("test_parallel_probe", leader)
        assert row is not None and row["by_workers"] is True
