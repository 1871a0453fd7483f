"""The database as a one-shot command opens it: connected with the daemon's bounds,
migrated, and (for a command that writes) with the daemon role's privileges, each
checked before any work, each failure one line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from daemon.rules.redact import one_line
from daemon.settings import Settings
from daemon.store.db import Db, pool_for
from daemon.store.migrations import pending_migrations
from daemon.store.privileges import check_daemon_privileges


class NotReady(Exception):
    """The database cannot be used yet (unreachable, not migrated); the message says why."""


@asynccontextmanager
async def open_db(
    settings: Settings, *, migrated: bool = True, writes: bool = True
) -> AsyncIterator[Db]:
    try:
        # Every command's waits are bounded as the daemon's are, but migrate's (see pool_for).
        pool = await pool_for(settings, bounded=migrated)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise NotReady(f"cannot connect to DATABASE_URL: {one_line(exc)}") from None
    try:
        if migrated:
            async with pool.acquire() as conn:
                if writes:  # a missing grant named before any work, not midway
                    await check_daemon_privileges(conn)
                pending = await pending_migrations(conn, settings.migrations_dir)
                if pending:
                    raise NotReady(
                        f"the database lacks {len(pending)} migration(s) ({pending[0]} first): "
                        "run `dailystats migrate`"
                    )
        yield Db(pool)
    finally:
        await pool.close()
