"""Two real database roles for a test, as the README sets them up: the owner of the
bot's tables (it migrates) and the daemon's role with only deploy/postgres/grant_daemon.sql's
privileges. Unique names, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.conftest import BOT_SCHEMA

GRANT_FILE = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "grant_daemon.sql"


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@dataclass(frozen=True)
class Roles:
    owner: str
    daemon: str
    owner_url: str
    daemon_url: str


@asynccontextmanager
async def bot_database_with_roles(
    empty_db_url: str, *, create_daemon: bool = True
) -> AsyncIterator[Roles]:
    """``empty_db_url``'s database owned by a new owner role that created the bot's
    tables, and a daemon role with no privileges yet (see :func:`grant_daemon`; with
    ``create_daemon=False`` only its name, for a test that creates it, and drops it after)."""
    tag = uuid.uuid4().hex[:10]
    owner, daemon = f"ds_owner_{tag}", f"ds_daemon_{tag}"
    database = urlsplit(empty_db_url).path.lstrip("/")
    admin = await asyncpg.connect(empty_db_url)
    try:
        await admin.execute(f'CREATE ROLE "{owner}" LOGIN')
        if create_daemon:
            await admin.execute(f'CREATE ROLE "{daemon}" LOGIN')
        # The bot's owner owns its database (PostgreSQL 15+: and so the public schema's CREATE).
        await admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{owner}"')
        await admin.execute(f'ALTER SCHEMA public OWNER TO "{owner}"')
        roles = Roles(owner, daemon, as_role(empty_db_url, owner), as_role(empty_db_url, daemon))
        conn = await asyncpg.connect(roles.owner_url)
        try:
            await conn.execute(BOT_SCHEMA)
        finally:
            await conn.close()
        yield roles
    finally:
        for role in (owner, daemon):
            if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                await admin.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
                await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'ALTER DATABASE "{database}" OWNER TO CURRENT_USER')
        await admin.close()
        server = await asyncpg.connect(empty_db_url.rsplit("/", 1)[0] + "/postgres")
        try:
            await server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await server.execute(f'DROP ROLE IF EXISTS "{owner}"')
            await server.execute(f'DROP ROLE IF EXISTS "{daemon}"')
        finally:
            await server.close()


async def grant_daemon(roles: Roles) -> None:
    """deploy/postgres/grant_daemon.sql as the owner, the way psql runs it
    (``-v role=...``: its one psql variable substituted, its psql command left out)."""
    sql = GRANT_FILE.read_text(encoding="utf-8")
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("\\"))
    sql = sql.replace(":'role'", "'" + roles.daemon.replace("'", "''") + "'")
    conn = await asyncpg.connect(roles.owner_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
