"""The asyncpg pool and the one small manager that runs named queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from daemon.store.queries import QUERIES

if TYPE_CHECKING:
    from daemon.settings import Settings

# asyncpg ships no type hints: these name what a value is, for readers.
Connection: TypeAlias = Any
Record: TypeAlias = Any


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout: float = 0,
    lock_timeout: float = 0,
    connect_timeout: float = 60,
) -> Any:
    """A pool; the timeouts (seconds, 0: none) bound every wait of its connections."""
    # Every timestamp the daemon writes or compares is UTC.
    # A scan sorts and hashes a day's rows (a million on a busy day): in memory, not in
    # batches on disk, up to this much a sort (PostgreSQL's default is 4MB).
    # Statements are prepared once a connection and run again for other days: a generic
    # plan (PostgreSQL's choice after five runs) guesses a day's range holds a few rows,
    # and reads a million serially or through nested loops. Plan each run for its day.
    server_settings = {
        "application_name": "dailystats",
        "timezone": "UTC",
        "work_mem": "64MB",
        "plan_cache_mode": "force_custom_plan",
    }
    if statement_timeout:
        server_settings["statement_timeout"] = str(int(statement_timeout * 1000))
    if lock_timeout:
        server_settings["lock_timeout"] = str(int(lock_timeout * 1000))
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        # The server cancels a statement first; this catches a server that stopped
        # answering at all (a half-open connection), where no cancel arrives.
        command_timeout=statement_timeout + 30 if statement_timeout else None,
        server_settings=server_settings,
    )


async def pool_for(settings: Settings, *, bounded: bool = True) -> Any:
    """The pool the daemon and the commands use, its waits bounded by the settings.

    ``bounded=False`` (migrate): a migration may build an index for longer than any
    statement timeout, and waits for another host's migration on its advisory lock.
    """
    return await create_pool(
        settings.database_url.get_secret_value(),
        max_size=settings.database_pool_size,
        statement_timeout=settings.database_statement_timeout_seconds if bounded else 0,
        lock_timeout=settings.database_lock_timeout_seconds if bounded else 0,
        connect_timeout=settings.database_connect_timeout_seconds,
    )


def _first(rows: list[Record]) -> Record | None:
    """The first row of a single-row query, fetched whole: asyncpg's own fetchrow and
    fetchval ask for one row (an Execute with a row limit), and PostgreSQL then runs a
    parallel plan without its workers (the day's fingerprint read took twice as long)."""
    return rows[0] if rows else None


class Db:
    """Named queries over a pool; ``transaction()`` hands out one connection for several."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def execute(self, name: str, *args: Any) -> str:
        return str(await self.pool.execute(QUERIES[name], *args))

    async def fetch(self, name: str, *args: Any) -> list[Record]:
        return list(await self.pool.fetch(QUERIES[name], *args))

    async def fetchrow(self, name: str, *args: Any) -> Record | None:
        return _first(await self.pool.fetch(QUERIES[name], *args))

    async def fetchval(self, name: str, *args: Any) -> Any:
        row = _first(await self.pool.fetch(QUERIES[name], *args))
        return None if row is None else row[0]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield Tx(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn:
            yield Tx(conn)


class Tx:
    """Named queries on one connection (inside a transaction when it came from one)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def execute(self, name: str, *args: Any) -> str:
        return str(await self.conn.execute(QUERIES[name], *args))

    async def executemany(self, name: str, args: list[tuple[Any, ...]]) -> None:
        await self.conn.executemany(QUERIES[name], args)

    async def fetch(self, name: str, *args: Any) -> list[Record]:
        return list(await self.conn.fetch(QUERIES[name], *args))

    async def fetchrow(self, name: str, *args: Any) -> Record | None:
        return _first(await self.conn.fetch(QUERIES[name], *args))

    async def fetchval(self, name: str, *args: Any) -> Any:
        row = _first(await self.conn.fetch(QUERIES[name], *args))
        return None if row is None else row[0]

    async def cursor(self, name: str, *args: Any) -> Any:
        """A server-side cursor; only inside a transaction."""
        return await self.conn.cursor(QUERIES[name], *args)

    async def copy_out(self, name: str, *args: Any, output: Any, **options: Any) -> str:
        """``COPY (query) TO STDOUT``: the server formats the rows (``options`` as asyncpg's
        ``copy_from_query``, e.g. ``format="csv"``) and ``output`` receives the bytes."""
        return str(await self.conn.copy_from_query(QUERIES[name], *args, output=output, **options))
