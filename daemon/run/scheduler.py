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
    """The stats date each nightly run scans: yesterday in the stats zone, once a night.

    In a daylight-saving gap the trigger fires at the shifted instant, still on the
    same local date. In an overlap it fires twice at one local wall-clock time
    (Europe/Berlin's 02:30 on the last Sunday of October happens twice): the second run
    is the same night again and asks for nothing. Runs at other wall-clock times (a cron
    that fires every few hours) each ask, as the operator meant.
    """

    last: tuple[date, datetime] | None = None

    def day_for(self, fired_at: datetime, zone: ZoneInfo) -> date | None:
        local = fired_at.astimezone(zone)
        day = local.date() - timedelta(days=1)
        # cron's resolution is the minute: the local wall-clock minute names a run
        wall = local.replace(tzinfo=None, second=0, microsecond=0)
        if self.last == (day, wall):
            return None
        self.last = (day, wall)
        return day


def nightly_due_through(trigger: CronTrigger, now: datetime, zone: ZoneInfo) -> date:
    """The last stats date the nightly job should have asked for by ``now``: yesterday
    once today's run time has passed, else the day before. The look-back stops there,
    at start too, so it never scans yesterday ahead of the nightly run; a daemon down
    over the nightly time finds yesterday owed once it starts."""
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), datetime.min.time()).replace(tzinfo=zone)
    first_today = trigger.get_next_fire_time(None, midnight)
    yesterday = local.date() - timedelta(days=1)
    if first_today is not None and first_today <= now:
        return yesterday
    return yesterday - timedelta(days=1)


def nightly_scheduler(
    zone: ZoneInfo,
    cron: str,
    job: Callable[[], Awaitable[None]],
    trigger: CronTrigger | None = None,
) -> AsyncIOScheduler:
    """The nightly job on ``cron`` in ``zone``; ``trigger`` replaces the crontab (the
    tests fire it every second rather than wait for a wall-clock minute)."""
    scheduler = AsyncIOScheduler(timezone=zone)
    scheduler.add_job(
        job,
        trigger or CronTrigger.from_crontab(cron, timezone=zone),
        id=NIGHTLY_JOB,
        # APScheduler's own lines name the job by this, not by the coroutine's qualname.
        name=f"nightly scan of yesterday ({cron})",
        coalesce=True,
        misfire_grace_time=3600,
        max_instances=1,
    )
    return scheduler
