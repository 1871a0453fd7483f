"""Waiting for a scan to queue behind a held lock (a day's advisory lock, by default;
``transactionid``: a row another transaction is writing)."""

from __future__ import annotations

import asyncio

import asyncpg

WAITERS = "SELECT count(*) FROM pg_locks WHERE locktype = $1 AND NOT granted"


async def until_someone_waits_for_a_lock(
    conn: asyncpg.Connection, within: float = 30, locktype: str = "advisory"
) -> None:
    async def poll() -> None:
        # PostgreSQL tells no one when a lock wait starts: poll pg_locks for it.
        while not await conn.fetchval(WAITERS, locktype):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), within)
