"""The nightly job: APScheduler's cron trigger, run as a coroutine on the event loop.

AsyncIOScheduler's default executor runs ``async def`` jobs as tasks on the loop
(https://apscheduler.readthedocs.io/en/3.x/modules/schedulers/asyncio.html); a plain
function would run in a worker thread, where touching the loop's objects (an
``asyncio.Event``) is not thread-safe. So every job added here is a coroutine function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

NIGHTLY_JOB = "nightly-scan"


@dataclass(slots=True)
class NightlyDates:
    """The stats date each nightly run scans: yesterday in the stats zone, once.

    In a daylight-saving gap the trigger fires at the shifted instant, still on the
    same local date; in an overlap (Europe/Berlin's 02:30 on the last Sunday of October
    happens twice) it fires twice for one date, and the second run finds that date
    already asked for. Dates only move forward: an earlier date is never asked again.
    """

    last: date | None = None

    def day_for(self, fired_at: datetime, zone: ZoneInfo) -> date | None:
        day = fired_at.astimezone(zone).date() - timedelta(days=1)
        if self.last is not None and day <= self.last:
            return None
        self.last = day
        return day


def nightly_scheduler(
    zone: ZoneInfo, cron: str, job: Callable[[], Awaitable[None]]
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=zone)
    scheduler.add_job(
        job,
        CronTrigger.from_crontab(cron, timezone=zone),
        id=NIGHTLY_JOB,
        coalesce=True,
        misfire_grace_time=3600,
        max_instances=1,
    )
    return scheduler
