"""What every command shares: its outcome, its one-line errors, the database it opens."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from daemon.settings import Settings
from daemon.store.opening import NotReady, open_db

__all__ = ["NotReady", "open_db"]  # with the names below: what every command module uses

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A command cannot do its job; the message is the one line the operator sees."""


class UsageError(CommandError):
    """The command was asked for something it must refuse (exit 2, as argparse's)."""


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
    parser.add_argument(
        "--from", dest="first", type=iso_date, required=True, metavar="D1", help="the first day"
    )
    parser.add_argument(
        "--to", dest="last", type=iso_date, required=True, metavar="D2", help="the last day"
    )
