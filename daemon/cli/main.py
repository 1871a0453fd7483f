"""The parser, and the one place commands become exit codes and printed reports.

Exit 0 on success; otherwise non-zero with a one-line reason on stderr. Every command
that reports takes ``--json`` for a machine-readable report on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable
from pathlib import Path

import asyncpg

from daemon import __version__
from daemon.cli import deliveries, scans, settle, status
from daemon.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    CommandError,
    NotReady,
    Outcome,
    UsageError,
)
from daemon.rules.redact import one_line, redact_text, redact_value, register_settings
from daemon.run.logs import configure_logging, requested_format, startup_error
from daemon.settings import ENV_FILE_VARIABLE, Settings, SettingsError, load_settings, settings_file
from daemon.store.migrations import MigrationError
from daemon.store.privileges import PrivilegeError, privilege_problem

ENV_FILE_HELP = f"settings from this file, not ./.env (default ${ENV_FILE_VARIABLE})"
COMMANDS: dict[str, Command] = {
    c.name: c for c in (*scans.COMMANDS, *deliveries.COMMANDS, *status.COMMANDS, *settle.COMMANDS)
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dailystats", description="Daily task stats for X2C, delivered by signed webhook."
    )
    parser.add_argument("--version", action="version", version=f"dailystats {__version__}")
    parser.add_argument("--env-file", type=Path, metavar="PATH", help=ENV_FILE_HELP)
    # The same option after the command (`dailystats status --env-file F`); SUPPRESS so
    # an absent one does not undo one given before the command.
    env_file = argparse.ArgumentParser(add_help=False)
    env_file.add_argument(
        "--env-file", type=Path, metavar="PATH", default=argparse.SUPPRESS, help=ENV_FILE_HELP
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, reports: bool = True) -> argparse.ArgumentParser:
        parents = [] if name == "demo" else [env_file]  # the demo reads no settings
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=parents)
        if reports:
            sub.add_argument("--json", action="store_true", help="print a JSON report on stdout")
        return sub

    add("run", "run the daemon: nightly scans, retries, SIGHUP rescans", reports=False)
    add(
        "demo",
        "the whole pipeline on a scratch database (the local PostgreSQL, else an embedded "
        "one) with fake X2C and video APIs; needs no settings",
    )
    for command in COMMANDS.values():
        command.arguments(add(command.name, command.help, command.reports))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":  # needs no settings at all
        from daemon.demo.main import run_demo

        return run_demo(json_output=args.json)
    env_file = settings_file(getattr(args, "env_file", None))
    try:
        settings = load_settings(env_file)
    except SettingsError as exc:
        if args.command == "run":  # the daemon's first line, in its log format
            print(startup_error(str(exc), requested_format(env_file)), file=sys.stderr)
        else:
            print(f"dailystats: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    register_settings(settings)  # before anything can log or print a secret
    configure_logging(settings.log_format, settings.log_level)
    if args.command == "run":
        from daemon.run.service import run_service

        try:
            return run_service(settings)
        except KeyboardInterrupt:  # a second Ctrl-C during shutdown
            return 130
    command = COMMANDS[args.command]
    try:
        check_dates(settings, args)
        outcome: Outcome = asyncio.run(_run(command.handler(settings, args)))
    except (UsageError, PrivilegeError) as exc:
        print(f"dailystats: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except asyncpg.InsufficientPrivilegeError as exc:  # one the check before did not foresee
        problem = privilege_problem(exc, migrating=args.command == "migrate")
        print(f"dailystats: {redact_text(problem)}", file=sys.stderr)
        return EXIT_USAGE
    except (CommandError, MigrationError, NotReady) as exc:
        print(f"dailystats: {redact_text(str(exc))}", file=sys.stderr)
        return command.error_exit
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"dailystats: database error: {one_line(exc)}", file=sys.stderr)
        return command.error_exit
    except KeyboardInterrupt:
        print("dailystats: interrupted", file=sys.stderr)
        return 130
    if outcome.printed:
        pass
    elif getattr(args, "json", False):
        data = redact_value(outcome.data)
        print(json.dumps(data, default=str, ensure_ascii=False, indent=2))
    else:
        print(redact_text(outcome.text))
    if not outcome.ok:
        reason = outcome.reason or f"{args.command} failed (see the report above)"
        print(f"dailystats: {reason}", file=sys.stderr)
    return EXIT_OK if outcome.ok else EXIT_FAILED


def check_dates(settings: Settings, args: argparse.Namespace) -> None:
    """Refuse what no scan can give: a day not over yet, a reversed range."""
    from daemon.rules.dates import unscannable

    if args.command == "scan" and args.date:
        problem = unscannable(args.date, args.date, settings.zone)
    elif args.command == "backfill":
        problem = unscannable(args.first, args.last, settings.zone)
    elif args.command in ("report", "audit") and args.last < args.first:
        problem = "--to is before --from"
    else:
        problem = None
    if problem:
        raise UsageError(problem)


async def _run(command: Awaitable[Outcome]) -> Outcome:
    return await command
