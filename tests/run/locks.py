"""Waiting for a scan to queue behind a held day lock."""

from __future__ import annotations

import asyncio

import asyncpg

WAITERS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


async def until_someone_waits_for_a_lock(conn: asyncpg.Connection, within: float = 30) -> None:
    async def poll() -> None:
        # PostgreSQL tells no one when a lock wait starts: poll pg_locks for it.
        while not await conn.fetchval(WAITERS):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), within)
