"""The look-back: which recent days the daemon still owes a scan.

Checked at start and again every ``LOOKBACK_INTERVAL_SECONDS``: a day of the last
``CATCHUP_DAYS`` without a successful scan ('missed': the daemon was down, or every
scan of it failed), and a day whose latest successful scan left videos without fresh
stats because a provider was stopped or over budget, once no such provider is stopped
any more ('incomplete'; issue 7 records them in ``dailystats_scan_runs.incomplete_providers``
and the stops in ``dailystats_provider_stops``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from daemon.store.db import Db


@dataclass(frozen=True, slots=True)
class OwedDay:
    stats_date: date
    reason: str  # 'missed' or 'incomplete'


def lookback_window(last: date, catchup_days: int) -> tuple[date, date] | None:
    """The inclusive window of ``catchup_days`` ending at ``last``; None when it is 0."""
    if catchup_days <= 0:
        return None
    return last - timedelta(days=catchup_days - 1), last


async def owed_days(db: Db, last: date, catchup_days: int) -> list[OwedDay]:
    window = lookback_window(last, catchup_days)
    if window is None:
        return []
    rows = await db.fetch("lookback_days", *window)
    return [OwedDay(r["stats_date"], r["reason"]) for r in rows]
