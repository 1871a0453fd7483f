"""``dailystats``: the daemon and its operator commands (spec section 8).

Exit 0 on success; otherwise non-zero with a one-line reason on stderr. Every command
that reports takes ``--json`` for a machine-readable report on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from daemon import __version__
from daemon.rules.redact import one_line, redact_text, redact_value, register_settings
from daemon.run.logs import configure_logging, requested_format, startup_error
from daemon.scan.day import ScanReport
from daemon.settings import ENV_FILE_VARIABLE, Settings, SettingsError, load_settings, settings_file
from daemon.store.migrations import MigrationError, apply_migrations
from daemon.store.opening import NotReady, open_db
from daemon.store.privileges import PrivilegeError, privilege_problem

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


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a delivery id: {value!r}") from None


ENV_FILE_HELP = f"settings from this file, not ./.env (default ${ENV_FILE_VARIABLE})"


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

    def command(name: str, help_text: str, reports: bool = True) -> argparse.ArgumentParser:
        parents = [] if name == "demo" else [env_file]  # the demo reads no settings
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=parents)
        if reports:
            sub.add_argument("--json", action="store_true", help="print a JSON report on stdout")
        return sub

    command("run", "run the daemon: nightly scans, retries, SIGHUP rescans", reports=False)
    command("migrate", "apply pending migrations")
    scan = command("scan", "scan one day (default: yesterday in the stats time zone)")
    scan.add_argument("--date", type=_date, help="the stats date, YYYY-MM-DD, up to yesterday")
    scan.add_argument("--no-deliver", action="store_true", help="queue deliveries, send none")
    backfill = command("backfill", "scan each day of an inclusive range")
    backfill.add_argument(
        "--from", dest="first", type=_date, required=True, metavar="D1", help="the first day"
    )
    backfill.add_argument(
        "--to", dest="last", type=_date, required=True, metavar="D2", help="the last day"
    )
    backfill.add_argument("--no-deliver", action="store_true", help="queue deliveries, send none")
    deliver = command("deliver", "one pass of the retry loop: send the due deliveries")
    deliver.add_argument("--force", action="store_true", help="send every pending one, due or not")
    replay = command("replay", "put dead deliveries back in the queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=_uuid, help="one delivery, by id")
    which.add_argument("--dead", action="store_true", help="every dead delivery")
    replay.add_argument("--since", type=_date, help="with --dead: only stats dates from this one")
    resend = command("resend", "send a delivered day again (X2C lost it), under the same ids")
    resend.add_argument("--date", type=_date, required=True, help="the stats date, YYYY-MM-DD")
    resend.add_argument("--task", type=int, help="one task, by drama_tasks.task_id")
    command("status", "recent scan runs, deliveries by state, provider stops, TikHub spend")
    stops = command("stops", "provider stops (YouTube quota, TikHub key, balance or budget)")
    stops.add_argument("action", nargs="?", choices=("list", "clear"), default="list")
    stops.add_argument("provider", nargs="?", choices=("youtube", "tikhub"))
    command(
        "demo",
        "the whole pipeline on a scratch database (the local PostgreSQL, else an embedded "
        "one) with fake X2C and video APIs; needs no settings",
    )
    # explain (issue 7): where a task's numbers on a day come from
    explain = command("explain", "each video of a task on a day and where its counts came from")
    task = explain.add_mutually_exclusive_group(required=True)
    task.add_argument("--task", type=int, help="the task, by drama_tasks.task_id")
    task.add_argument("--x2c-task", type=int, help="the task, by X2C's id (external_task_id)")
    explain.add_argument("--date", type=_date, help="the stats date (default: yesterday)")
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
    handler = HANDLERS[args.command]
    try:
        check_dates(settings, args)
        outcome: Outcome = asyncio.run(_run(handler(settings, args)))
    except (UsageError, PrivilegeError) as exc:
        print(f"dailystats: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except asyncpg.InsufficientPrivilegeError as exc:  # one the check before did not foresee
        problem = privilege_problem(exc, migrating=args.command == "migrate")
        print(f"dailystats: {redact_text(problem)}", file=sys.stderr)
        return EXIT_USAGE
    except (CommandError, MigrationError, NotReady) as exc:
        print(f"dailystats: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"dailystats: database error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("dailystats: interrupted", file=sys.stderr)
        return 130
    if args.json:
        data = redact_value(outcome.data)
        print(json.dumps(data, default=str, ensure_ascii=False, indent=2))
    else:
        print(redact_text(outcome.text))
    if not outcome.ok:
        print(f"dailystats: {args.command} failed (see the report above)", file=sys.stderr)
    return EXIT_OK if outcome.ok else EXIT_FAILED


async def _run(command: Awaitable[Outcome]) -> Outcome:
    return await command


def check_dates(settings: Settings, args: argparse.Namespace) -> None:
    """Refuse what no scan can give: a day not over yet, a reversed range."""
    from daemon.rules.dates import unscannable

    if args.command == "scan" and args.date:
        problem = unscannable(args.date, args.date, settings.zone)
    elif args.command == "backfill":
        problem = unscannable(args.first, args.last, settings.zone)
    else:
        problem = None
    if problem:
        raise UsageError(problem)


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> Outcome:
    async with open_db(settings, migrated=False) as db, db.pool.acquire() as conn:
        applied = await apply_migrations(conn, settings.migrations_dir)
    text = f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    return Outcome(text, {"applied": applied})


async def cmd_scan(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.rules.dates import yesterday
    from daemon.run.pipeline import scan_and_deliver

    day = args.date or yesterday(settings.zone)
    async with open_db(settings) as db:
        result = await scan_and_deliver(
            db, settings, [day], trigger="cli", deliver=not args.no_deliver
        )
    return Outcome(result.text(), result.as_dict(), result.ok)


async def cmd_backfill(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.rules.dates import days_between
    from daemon.run.pipeline import scan_and_deliver

    days = days_between(args.first, args.last)  # check_dates refused a reversed range

    def progress(done: int, report: ScanReport) -> None:
        print(
            f"[{done}/{len(days)}] {report.stats_date} {report.status}: "
            f"{report.task_count} tasks, {report.completion_count} completions",
            file=sys.stderr,
        )

    async with open_db(settings) as db:
        result = await scan_and_deliver(
            db, settings, days, trigger="backfill", deliver=not args.no_deliver, progress=progress
        )
    return Outcome(result.text(), result.as_dict(), result.ok)


async def cmd_deliver(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.run.pipeline import deliver_pass

    async with open_db(settings) as db:
        report = await deliver_pass(db, settings, force=args.force)
    data = report.as_dict()
    return Outcome(" ".join(f"{k}={v}" for k, v in data.items()), data)


async def cmd_replay(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.webhook.outbox import replay_report

    if args.since and not args.dead:
        raise CommandError("--since goes with --dead")
    async with open_db(settings) as db:
        if args.id:
            report = await replay_report(db, delivery_id=args.id)
        elif args.since:
            report = await replay_report(db, dead_since=args.since)
        else:
            report = await replay_report(db, all_dead=True)
    data = {
        "requeued": [str(i) for i in report.replayed],
        "refused": [{"id": str(r.delivery_id), "reason": r.reason} for r in report.refused],
    }
    lines = [f"requeued {len(report.replayed)} delivery(ies)"]
    lines += [f"not replayed {r.delivery_id}: {r.reason}" for r in report.refused]
    # Asked for one by id and it could not be replayed: that is a failure.
    return Outcome("\n".join(lines), data, ok=not (args.id and not report.replayed))


async def cmd_resend(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.webhook.resend import resend_day

    async with open_db(settings) as db:
        report = await resend_day(db, args.date, args.task)
    return Outcome(report.text(), report.as_dict(), report.ok)


async def cmd_status(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.run.status import status_report

    async with open_db(settings, writes=False) as db:
        text, data = await status_report(db, settings)
    return Outcome(text, data)


# --- provider stops and TikHub spend (issue 7) ------------------------------------


async def cmd_stops(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.fetch.report import stop_line, tikhub_key
    from daemon.fetch.stops import clear_stop, list_stops

    async with open_db(settings) as db:
        if args.action == "clear":
            if args.provider is None:
                raise CommandError("which provider? `dailystats stops clear tikhub|youtube`")
            cleared = await clear_stop(db, args.provider)
            text = f"cleared the {args.provider} stop" if cleared else f"{args.provider}: no stop"
            return Outcome(text, {"provider": args.provider, "cleared": cleared})
        stops = [s for s in await list_stops(db, tikhub_key(settings)) if s["active"]]
    lines = [stop_line(s) for s in stops] or ["no provider stops"]
    return Outcome("\n".join(lines), {"stops": stops})


async def cmd_explain(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.rules.dates import yesterday
    from daemon.scan.day import ScanConfig
    from daemon.settle.explain import ExplainError, explain_day
    from daemon.settle.explain_text import keyless_platforms, render

    day = args.date or yesterday(settings.zone)
    async with open_db(settings, writes=False) as db:
        try:
            explanation = await explain_day(
                db,
                ScanConfig.from_settings(settings),
                day,
                task_id=args.task,
                external_task_id=args.x2c_task,
            )
        except ExplainError as exc:
            raise CommandError(str(exc)) from None
    return Outcome(render(explanation, keyless_platforms(settings)), explanation.as_dict())


HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[Outcome]]] = {
    "migrate": cmd_migrate,
    "scan": cmd_scan,
    "backfill": cmd_backfill,
    "deliver": cmd_deliver,
    "replay": cmd_replay,
    "resend": cmd_resend,
    "status": cmd_status,
    "stops": cmd_stops,
    "explain": cmd_explain,
}
