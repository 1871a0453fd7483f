"""The look-back: which recent days the daemon still owes a scan.

Checked at start and again every ``LOOKBACK_INTERVAL_SECONDS``: a day of the last
``CATCHUP_DAYS`` without a successful scan ('missed': the daemon was down, or every
scan of it failed), and a day whose latest successful scan left videos without fresh
stats because a provider was stopped or over budget, once no such provider is stopped
any more, however long ago, while the day is retained ('incomplete'; recorded in
``dailystats_scan_runs.incomplete_providers``, the stops in ``dailystats_provider_stops``).
A rescan that still could not fetch records the provider again, so the day stays owed.
A TikHub stop stored with another key than this process's is lifted for it at once.
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


def retained_from(today: date, retention_days: int) -> date | None:
    """The oldest stats date still retained (None: all, RETENTION_DAYS=0)."""
    return today - timedelta(days=retention_days) if retention_days > 0 else None


async def owed_days(
    db: Db,
    last: date,
    catchup_days: int,
    *,
    retained: date | None = None,
    tikhub_fingerprint: str | None = None,
) -> list[OwedDay]:
    """Missed days inside the catch-up window ending at ``last``; incomplete days up to
    ``last`` from ``retained`` on (None: every day)."""
    window = lookback_window(last, catchup_days)
    # No catch-up window: no day is missed (an empty series), incomplete ones still are.
    first = window[0] if window is not None else last + timedelta(days=1)
    rows = await db.fetch("lookback_days", first, last, retained, tikhub_fingerprint)
    return [OwedDay(r["stats_date"], r["reason"]) for r in rows]
