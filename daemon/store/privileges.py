"""Database privileges: what the daemon's role lacks, said in one line.

Two roles (README "Database roles"): the owner of the bot's tables runs
``dailystats migrate`` (it alters ``users`` and creates tables); the daemon's role
needs only reads of the bot's tables and reads and writes of its own. A command that
meets a missing privilege names it and exits 2, like a bad setting.
"""

from __future__ import annotations

import asyncpg

from daemon.rules.redact import one_line
from daemon.store.queries import QUERIES

ROLES_DOC = 'README "Database roles"'


class PrivilegeError(Exception):
    """The database role lacks a privilege; the message names it."""


async def check_daemon_privileges(conn: asyncpg.Connection) -> None:
    """Raise :class:`PrivilegeError` naming the first missing privilege (and how many
    more) the daemon's role needs; return when it has them all."""
    missing = await conn.fetch(QUERIES["missing_privileges"])
    if not missing:
        return
    first = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    role = await conn.fetchval("SELECT current_user")
    raise PrivilegeError(
        f"the database role {role} lacks {first['privilege']} on {first['on_what']}{more}: "
        f"grant the daemon's privileges ({ROLES_DOC}, deploy/postgres/grant_daemon.sql)"
    )


def privilege_problem(exc: asyncpg.InsufficientPrivilegeError, *, migrating: bool) -> str:
    """The one line for a privilege PostgreSQL refused (its message names the object)."""
    if migrating:
        return (
            f"migrate needs the owner of the bot's tables: {one_line(exc)} "
            f"(run it as the owner role, {ROLES_DOC})"
        )
    return f"the database refused: {one_line(exc)} (the daemon's privileges: {ROLES_DOC})"
