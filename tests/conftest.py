"""A real PostgreSQL for every test: one template database built per session
(the bot's schema plus our migrations), cloned per test with CREATE DATABASE ... TEMPLATE.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from importlib import resources

import asyncpg
import pytest

from daemon.demo.fake_providers import FakeProviders
from daemon.store.db import Db, create_pool
from daemon.store.embedded import embedded_server, find_local_server, with_database
from daemon.store.migrations import apply_migrations

BOT_SCHEMA = resources.files("daemon").joinpath("store/bot_schema.sql").read_text(encoding="utf-8")
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    import asyncio

    url = asyncio.run(find_local_server())
    if url is not None:
        yield url
        return
    with embedded_server() as embedded:
        yield embedded


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


@pytest.fixture(scope="session")
async def template_db(pg_admin_url: str) -> AsyncIterator[str]:
    name = f"dailystats_tpl_{os.getpid()}"
    admin = await _admin(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(with_database(pg_admin_url, name))
        try:
            await conn.execute(BOT_SCHEMA)
            await apply_migrations(conn)
        finally:
            await conn.close()
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _clone(admin_url: str, template: str | None) -> str:
    name = f"dailystats_t_{os.getpid()}_{next(_counter)}"
    admin = await _admin(admin_url)
    try:
        if template:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop(admin_url: str, name: str) -> None:
    admin = await _admin(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh database of this test's own: the bot's tables plus every migration."""
    name = await _clone(pg_admin_url, template_db)
    yield with_database(pg_admin_url, name)
    await _drop(pg_admin_url, name)


@pytest.fixture
async def empty_db_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A database with nothing in it."""
    name = await _clone(pg_admin_url, None)
    yield with_database(pg_admin_url, name)
    await _drop(pg_admin_url, name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    pool = await create_pool(db_url, min_size=1, max_size=4)
    try:
        yield Db(pool)
    finally:
        await pool.close()


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeProviders, str]]:
    """The fake video APIs (YouTube, TikHub, short links) on a local port, and its base URL."""
    providers = FakeProviders()
    async with providers.start() as base:
        yield providers, base
