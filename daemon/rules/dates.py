"""Stats dates and the UTC instants that bound them: pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_bounds(stats_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of ``stats_date`` in ``zone`` as naive UTC, as ``submitted_at`` is stored.

    A day of a zone with daylight saving is 23 or 25 hours long; the bounds follow it.
    """
    start = datetime.combine(stats_date, time(0), tzinfo=zone)
    end = datetime.combine(stats_date + timedelta(days=1), time(0), tzinfo=zone)
    return _naive_utc(start), _naive_utc(end)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def yesterday(zone: ZoneInfo, now: datetime | None = None) -> date:
    """The stats date a nightly scan covers: the day before today, in the stats zone."""
    now = now or datetime.now(UTC)
    return now.astimezone(zone).date() - timedelta(days=1)


def unscannable(first: date, last: date, zone: ZoneInfo, now: datetime | None = None) -> str | None:
    """Why the days ``first``..``last`` cannot be scanned (None when they can): a range
    that ends before it starts, or a day not over yet (a scan of it would be recorded
    as a success for a day still filling up)."""
    if last < first:
        return f"the range ends ({last}) before it starts ({first})"
    latest = yesterday(zone, now)
    if last > latest:
        return f"{last} is not over yet: the latest day to scan is {latest}"
    return None


def days_between(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last`` inclusive (empty when ``last`` is earlier)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
