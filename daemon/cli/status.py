"""status, stops: what the daemon did lately and which providers are stopped."""

from __future__ import annotations

import argparse

from daemon.cli.base import Command, CommandError, Outcome, open_db
from daemon.settings import Settings


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


def _stops_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "clear"), default="list")
    parser.add_argument("provider", nargs="?", choices=("youtube", "tikhub"))


COMMANDS = [
    Command(
        "status", "recent scan runs, deliveries by state, provider stops, TikHub spend", cmd_status
    ),
    Command(
        "stops",
        "provider stops (YouTube quota, TikHub key, balance or budget)",
        cmd_stops,
        _stops_args,
    ),
]
