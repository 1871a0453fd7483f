"""What `status` and `stops` print about providers: active stops, TikHub spend (issue 7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from daemon.fetch.stops import list_stops, spend_of_day
from daemon.settings import Settings
from daemon.store.db import Db


async def provider_status(db: Db, settings: Settings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Adds each run's incomplete providers and spend; the active stops; today's spend."""
    by_id = {r["id"]: r for r in await db.fetch("runs_provider_state", [r["id"] for r in runs])}
    for run in runs:
        state = by_id.get(run["id"])
        run["incomplete_providers"] = state["incomplete_providers"] if state else None
        spend = state["tikhub_spend"] if state else None
        run["tikhub_spend"] = json.loads(spend) if isinstance(spend, str) else spend
    stops = [s for s in await list_stops(db, tikhub_key(settings)) if s["active"]]
    today = datetime.now(UTC).astimezone(settings.zone).date()
    spend = await spend_of_day(db, today)
    budget = settings.tikhub_daily_budget_usd
    total = sum((line.usd for line in spend), Decimal(0))
    lines = ["provider stops:" if stops else "provider stops: none"]
    lines += [stop_line(s) for s in stops]
    lines.append(
        f"tikhub spend {today}: ${total:.3f}"
        + (f" of ${budget:.2f} budget" if budget is not None else " (no budget)")
        + "".join(f"; {x.endpoint} {x.calls} calls ${x.usd:.3f}" for x in spend)
    )
    for run in runs:
        if run["incomplete_providers"] or run["tikhub_spend"]:
            spent = sum(v["usd"] for v in (run["tikhub_spend"] or {}).values())
            lines.append(
                f"  run #{run['id']}: tikhub ${spent:.3f}, incomplete:"
                f" {', '.join(run['incomplete_providers'] or []) or 'no'}"
            )
    return {
        "lines": lines,
        "stops": stops,
        "tikhub_spend_today": {
            "date": today.isoformat(),
            "budget_usd": str(budget) if budget is not None else None,
            "usd": str(total),
            "endpoints": [
                {"endpoint": x.endpoint, "calls": x.calls, "usd": str(x.usd)} for x in spend
            ],
        },
    }


def stop_line(stop: dict[str, Any]) -> str:
    until = stop["until"].isoformat() if stop["until"] else "cleared (probed hourly)"
    since = f"{stop['stopped_at']:%Y-%m-%d %H:%M} UTC"
    line = f"  {stop['provider']}: {stop['reason']} since {since}, until {until}"
    if stop.get("key_changed"):
        # Not cleared here: a daemon with the new key lifts it for itself at once.
        line += " (key changed: lifted for a process with the configured key)"
    return line


def tikhub_key(settings: Settings) -> str | None:
    return settings.tikhub_api_key.get_secret_value() if settings.tikhub_api_key else None
