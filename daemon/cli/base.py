"""What every command shares: its outcome, its one-line errors, the database it opens."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from daemon.rules.redact import one_line
from daemon.settings import Settings
from daemon.store.db import Db, pool_for
from daemon.store.migrations import pending_migrations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A command cannot do its job; the message is the one line the operator sees."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command prints: a short text for people, the same facts as JSON."""

    text: str
    data: dict[str, Any]
    ok: bool = True
    reason: str | None = None  # the stderr line when not ok
    printed: bool = False  # the command wrote its report itself (streamed: report)


Handler = Callable[[Settings, argparse.Namespace], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand: its arguments, its handler, and the exit code of an error."""

    name: str
    help: str
    handler: Handler
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    reports: bool = True  # takes --json
    # audit: 2 on an error, since 1 means "something differs" (spec section 9)
    error_exit: int = EXIT_FAILED


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def delivery_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a delivery id: {value!r}") from None


def date_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", type=iso_date, required=True)
    parser.add_argument("--to", dest="last", type=iso_date, required=True)


@asynccontextmanager
async def open_db(settings: Settings, *, migrated: bool = True) -> AsyncIterator[Db]:
    try:
        # Every command's waits are bounded as the daemon's are, but migrate's (see pool_for).
        pool = await pool_for(settings, bounded=migrated)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise CommandError(f"cannot connect to DATABASE_URL: {one_line(exc)}") from None
    try:
        if migrated:
            async with pool.acquire() as conn:
                pending = await pending_migrations(conn, settings.migrations_dir)
            if pending:
                raise CommandError(
                    f"the database lacks {len(pending)} migration(s) ({pending[0]} first): "
                    "run `dailystats migrate`"
                )
        yield Db(pool)
    finally:
        await pool.close()
