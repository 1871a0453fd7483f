"""deliver, replay, resend: the outbox by hand."""

from __future__ import annotations

import argparse

from daemon.cli.base import Command, CommandError, Outcome, delivery_id, iso_date, open_db
from daemon.settings import Settings


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


def _deliver_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="send every pending one, due or not")


def _replay_args(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=delivery_id, help="one delivery, by id")
    which.add_argument("--dead", action="store_true", help="every dead delivery")
    parser.add_argument(
        "--since", type=iso_date, help="with --dead: only stats dates from this one"
    )


def _resend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="the stats date, YYYY-MM-DD")
    parser.add_argument("--task", type=int, help="one task, by drama_tasks.task_id")


COMMANDS = [
    Command(
        "deliver", "one pass of the retry loop: send the due deliveries", cmd_deliver, _deliver_args
    ),
    Command("replay", "put dead deliveries back in the queue", cmd_replay, _replay_args),
    Command(
        "resend",
        "send a delivered day again (X2C lost it), under the same ids",
        cmd_resend,
        _resend_args,
    ),
]
