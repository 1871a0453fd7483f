"""The day lock, waited for in bounded tries.

Two daemons never scan one day at once (``lock_day``). A scan may legitimately wait
long for another daemon's scan of that day, but every wait is bounded: each try holds
a lock wait of at most ``TRY_SECONDS`` (``lock_timeout`` local to its transaction), and
after ``max_wait`` in all the scan gives up with :class:`DayLockTimeout`, so a holder
that hangs never hangs this daemon; the scan is retried later like a failed one.
"""

from __future__ import annotations

import time
from datetime import date

import asyncpg
import structlog

from daemon.store.db import Tx

log = structlog.get_logger("daemon.scan.daylock")

TRY_SECONDS = 5.0


class DayLockTimeout(TimeoutError):
    """Another process held the day's lock for longer than the scan may wait. A
    TimeoutError (an OSError), so the commands report it in one line like other
    database waits."""


async def lock_day(conn: Tx, stats_date: date, max_wait: float) -> None:
    """Take ``stats_date``'s session lock on ``conn``, waiting at most ``max_wait`` seconds."""
    deadline = time.monotonic() + max_wait
    tries = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DayLockTimeout(
                f"day {stats_date.isoformat()} is being scanned by another process"
                f" (waited {max_wait:g} s)"
            )
        # At least 1 ms: lock_timeout 0 would mean "wait for ever".
        per_try_ms = max(1, int(min(TRY_SECONDS, remaining) * 1000))
        try:
            async with conn.conn.transaction():
                await conn.execute("set_local_lock_timeout", per_try_ms)
                await conn.execute("lock_day", stats_date)
            return
        except asyncpg.LockNotAvailableError:
            tries += 1
            if tries == 1:
                log.info("scan.waiting_for_day_lock", stats_date=stats_date.isoformat())
