"""Apply ``migrations/*.sql`` in order, each once, under an advisory lock.

Each file runs in its own transaction together with its row in
``dailystats_migrations``, so a failure leaves it unapplied and the next run retries it.
Two processes migrating at once serialise on the lock; the second finds nothing to do.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from daemon.store.privileges import ROLES_DOC, PrivilegeError
from daemon.store.queries import QUERIES

# daemon/store/migrations.py: the package root is two folders up.
_PACKAGE = Path(__file__).resolve().parent.parent
# An installed wheel carries its copy (setup.py); a checkout reads migrations/ itself.
INSTALLED_DIR = _PACKAGE / "migrations_sql"
CHECKOUT_DIR = _PACKAGE.parent / "migrations"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
# pg_advisory_lock key: "dailystats" migrations, distinct from the scan's day locks.
LOCK_KEY = 0x6461696C79_0001
BOT_TABLES = ("users", "drama_tasks", "user_tasks")


class MigrationError(Exception):
    """The database cannot be migrated; the message says why."""


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str


def default_dir() -> Path:
    return INSTALLED_DIR if INSTALLED_DIR.is_dir() else CHECKOUT_DIR


def read_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or default_dir()
    if not directory.is_dir():
        raise MigrationError(
            f"no migrations folder at {directory}: reinstall the package, or set MIGRATIONS_DIR"
        )
    files = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    bad = [p.name for p in files if not _NAME.match(p.name)]
    if bad:
        raise MigrationError(f"migration file names must look like 0001_name.sql: {bad}")
    return [Migration(p.name, p.read_text(encoding="utf-8")) for p in files]


async def apply_migrations(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    """Apply what is pending; return the names applied now (empty when up to date)."""
    migrations = read_migrations(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        missing = [
            t for t in BOT_TABLES if await conn.fetchval("SELECT to_regclass($1)", t) is None
        ]
        if missing:
            raise MigrationError(
                "this database has no bot tables ("
                + ", ".join(missing)
                + "): DATABASE_URL must point at the Telegram bot's database"
            )
        # Only when absent: up to date, migrate needs no more than the daemon's role has
        # (the unit's ExecStartPre runs it as that role; README "Database roles").
        if await conn.fetchval("SELECT to_regclass('dailystats_migrations')") is None:
            first = migrations[0].name if migrations else "dailystats_migrations"
            await _as_owner(conn.execute(QUERIES["create_migrations_table"]), first)
        done = {r["name"] for r in await conn.fetch(QUERIES["applied_migrations"])}
        applied = []
        for migration in migrations:
            if migration.name in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(QUERIES["record_migration"], migration.name)
            except asyncpg.InsufficientPrivilegeError as exc:
                raise _owner_needed(exc, migration.name) from None
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            applied.append(migration.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def _as_owner(statement: Awaitable[object], name: str) -> None:
    try:
        await statement
    except asyncpg.InsufficientPrivilegeError as exc:
        raise _owner_needed(exc, name) from None


def _owner_needed(exc: asyncpg.InsufficientPrivilegeError, name: str) -> PrivilegeError:
    message = " ".join(str(exc).split())
    return PrivilegeError(
        f"migration {name} needs the owner of the bot's tables: {message} "
        f"(run `dailystats migrate` as the owner role, {ROLES_DOC})"
    )


async def pending_migrations(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    exists = await conn.fetchval("SELECT to_regclass('dailystats_migrations')")
    done = {r["name"] for r in await conn.fetch(QUERIES["applied_migrations"])} if exists else set()
    return [m.name for m in read_migrations(directory) if m.name not in done]
