"""The pool's connections plan each run of a statement for its own parameters."""

from __future__ import annotations

from datetime import date, datetime

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
                await conn.fetchrow("classify_fingerprint", *args, day, "UTC|x")
        row = await conn.conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            QUERIES["classify_fingerprint"],
        )
    assert row is not None
    assert row["generic_plans"] == 0
    assert row["custom_plans"] == 8
