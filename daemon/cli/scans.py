"""migrate, scan, backfill: put the day's numbers in place."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from daemon.cli.base import Command, Outcome, date_range, iso_date, open_db
from daemon.settings import Settings
from daemon.store.migrations import apply_migrations

if TYPE_CHECKING:  # the scan and its HTTP clients load only for the commands that scan
    from daemon.scan.day import ScanReport


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

    days = days_between(args.first, args.last)  # main.check_dates refused a reversed range

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


def _scan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, help="the stats date, YYYY-MM-DD, up to yesterday")
    parser.add_argument("--no-deliver", action="store_true", help="queue deliveries, send none")


def _backfill_args(parser: argparse.ArgumentParser) -> None:
    date_range(parser)
    parser.add_argument("--no-deliver", action="store_true", help="queue deliveries, send none")


COMMANDS = [
    Command("migrate", "apply pending migrations", cmd_migrate),
    Command(
        "scan", "scan one day (default: yesterday in the stats time zone)", cmd_scan, _scan_args
    ),
    Command("backfill", "scan each day of an inclusive range", cmd_backfill, _backfill_args),
]
