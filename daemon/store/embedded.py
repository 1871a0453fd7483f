"""A PostgreSQL to run against when none is configured: the local one, else an embedded one.

The tests, the demo and the benchmarks use this; the daemon itself always takes
``DATABASE_URL``. The embedded server comes from the ``pgserver`` wheel (extra
``embedded``), so a fresh machine without PostgreSQL still runs everything.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

LOCAL_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
    "postgresql:///postgres?host=/var/run/postgresql",
)


async def _reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    try:
        # CREATE DATABASE is what every caller needs from it.
        return bool(
            await conn.fetchval(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            )
        )
    finally:
        await conn.close()


async def find_local_server(env_var: str = "DAILYSTATS_TEST_PG") -> str | None:
    """An admin URL of a reachable server: ``env_var`` if set, else the usual local ones."""
    explicit = os.environ.get(env_var)
    if explicit:
        return explicit
    for url in LOCAL_CANDIDATES:
        if await _reachable(url):
            return url
    return None


@contextmanager
def embedded_server() -> Iterator[str]:
    """Start a throwaway embedded PostgreSQL; yields its admin URL, deletes it after."""
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "no PostgreSQL reachable and the embedded one is not installed "
            "(pip install 'dailystats[embedded]')"
        ) from exc
    datadir = tempfile.mkdtemp(prefix="dailystats-pg-")
    server = pgserver.get_server(datadir, cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri("postgres"))
    finally:
        server.cleanup()


def with_database(admin_url: str, database: str) -> str:
    """The same server URL, naming another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + database))
