from __future__ import annotations

import asyncio

import asyncpg
import pytest

from daemon.store.migrations import (
    MigrationError,
    apply_migrations,
    pending_migrations,
    read_migrations,
)
from tests.conftest import BOT_SCHEMA

SCHEMA_QUERY = """
SELECT table_name, column_name, data_type, coalesce(character_maximum_length, 0) AS len,
       is_nullable, coalesce(column_default, '') AS dflt
FROM information_schema.columns WHERE table_schema = 'public'
ORDER BY table_name, column_name
"""
INDEX_QUERY = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"


async def _schema(
    conn: asyncpg.Connection,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    cols = [tuple(r) for r in await conn.fetch(SCHEMA_QUERY)]
    idx = [tuple(r) for r in await conn.fetch(INDEX_QUERY)]
    return cols, idx


async def test_replaying_migrations_changes_nothing(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        before = await _schema(conn)
        assert await apply_migrations(conn) == []
        assert await pending_migrations(conn) == []
        # Re-running every file by hand (as if the record were lost) is harmless too.
        for migration in read_migrations():
            await conn.execute(migration.sql)
        assert await _schema(conn) == before
    finally:
        await conn.close()


async def test_fresh_database_gets_every_migration_and_the_seed_columns(empty_db_url: str) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute(BOT_SCHEMA)
        applied = await apply_migrations(conn)
        assert applied == [m.name for m in read_migrations()]
        types = {
            r["column_name"]: (r["data_type"], r["character_maximum_length"])
            for r in await conn.fetch(
                "SELECT column_name, data_type, character_maximum_length "
                "FROM information_schema.columns WHERE table_name = 'task_daily_stats'"
            )
        }
        assert types["project_id"] == ("character varying", 255)
        assert types["external_task_id"][0] == "integer"
        assert types["stats_date"][0] == "date"
        assert types["total_account_count"][0] == "integer"
        assert types["dy_collect_count"][0] == "bigint"
        assert types["webhook_sent"][0] == "boolean"
        assert types["webhook_sent_at"][0] == "timestamp without time zone"
        assert types["webhook_response"][0] == "text"
        assert types["webhook_retry_count"][0] == "integer"
        agent = await conn.fetchval(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'users' AND column_name = 'agent_node'"
        )
        assert agent == "character varying"
    finally:
        await conn.close()


async def test_two_processes_migrating_at_once_apply_each_file_once(empty_db_url: str) -> None:
    setup = await asyncpg.connect(empty_db_url)
    await setup.execute(BOT_SCHEMA)
    await setup.close()
    a, b = await asyncpg.connect(empty_db_url), await asyncpg.connect(empty_db_url)
    try:
        first, second = await asyncio.gather(apply_migrations(a), apply_migrations(b))
        assert sorted(first + second) == [m.name for m in read_migrations()]
        assert await a.fetchval("SELECT count(*) FROM dailystats_migrations") == len(
            read_migrations()
        )
    finally:
        await a.close()
        await b.close()


async def test_database_without_the_bot_tables_is_refused_with_a_clear_message(
    empty_db_url: str,
) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        with pytest.raises(MigrationError, match=r"no bot tables .*DATABASE_URL"):
            await apply_migrations(conn)
        assert await conn.fetchval("SELECT to_regclass('task_daily_stats')") is None
    finally:
        await conn.close()


def test_the_bot_schema_fixture_matches_the_shared_spec_when_it_is_there() -> None:
    """The project keeps its own copy so a clone stands alone; it must not drift."""
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "spec" / "bot_schema.sql"
    if not shared.is_file():
        pytest.skip("no ../shared beside this clone")
    assert shared.read_text(encoding="utf-8") == BOT_SCHEMA
