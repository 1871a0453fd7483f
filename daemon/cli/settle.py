"""explain, report, audit: what the numbers are, what was sent, and whether it still holds."""

from __future__ import annotations

import argparse
import sys

from daemon.cli.base import (
    EXIT_USAGE,
    Command,
    CommandError,
    Outcome,
    date_range,
    iso_date,
    open_db,
)
from daemon.settings import Settings


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


async def cmd_report(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.settle.report import copy_report_csv, report_batches, write_report

    fmt = "json" if args.json else args.format
    default_url = bool(settings.webhook_default_url)
    async with open_db(settings, writes=False) as db:
        if fmt == "csv" and args.by == "task":
            # A month of tasks: the server writes the CSV, passed through as bytes.
            sys.stdout.flush()
            await copy_report_csv(
                db, args.first, args.last, sys.stdout.buffer, default_url=default_url
            )
            sys.stdout.buffer.flush()
            return Outcome("", {}, printed=True)
        rows = report_batches(db, args.first, args.last, args.by, default_url=default_url)
        await write_report(rows, args.by, fmt, sys.stdout, (args.first, args.last))
    sys.stdout.flush()
    return Outcome("", {}, printed=True)


async def cmd_audit(settings: Settings, args: argparse.Namespace) -> Outcome:
    from daemon.scan.day import ScanConfig
    from daemon.settle.audit import audit_range

    async with open_db(settings, writes=False) as db:
        report = await audit_range(db, ScanConfig.from_settings(settings), args.first, args.last)
    reason = f"audit: {len(report.findings)} difference(s)" if report.differs else None
    return Outcome(report.text(), report.as_dict(), ok=not report.differs, reason=reason)


def _explain_args(parser: argparse.ArgumentParser) -> None:
    task = parser.add_mutually_exclusive_group(required=True)
    task.add_argument("--task", type=int, help="the task, by drama_tasks.task_id")
    task.add_argument("--x2c-task", type=int, help="the task, by X2C's id (external_task_id)")
    parser.add_argument("--date", type=iso_date, help="the stats date (default: yesterday)")


def _report_args(parser: argparse.ArgumentParser) -> None:
    date_range(parser)
    parser.add_argument("--by", choices=("task", "node", "day"), default="task")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")


COMMANDS = [
    Command(
        "explain",
        "each video of a task on a day and where its counts came from",
        cmd_explain,
        _explain_args,
    ),
    Command(
        "report",
        "the settlement numbers of a range, as stored and as last delivered",
        cmd_report,
        _report_args,
    ),
    Command(
        "audit",
        "recompute a range from the bot's data now and compare it with what was delivered:"
        " exit 0 nothing differs, 1 something does, 2 an error",
        cmd_audit,
        date_range,
        error_exit=EXIT_USAGE,
    ),
]
