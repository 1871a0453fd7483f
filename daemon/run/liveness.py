"""What "alive" means for the daemon, and the systemd watchdog that acts on it.

Alive: the event loop runs and both workers (scan loop, retry loop) are still running.
A worker awaiting something for a long time (a day's lock another daemon holds, a slow
fetch, a database retry's backoff) is alive; a worker whose task ended is not, and a
blocked loop runs nothing, so no ping goes out and /healthz does not answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

from daemon.run.notify import Notifier

log = structlog.get_logger("daemon.run.liveness")


async def wait_any(*events: asyncio.Event, at_most: float | None = None) -> None:
    """Until one of ``events`` is set, or ``at_most`` seconds pass."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Workers:
    """The daemon's long-running tasks, by name."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._ended)
        self.tasks[name] = task
        return task

    def problem(self) -> str | None:
        """None while every worker runs, else which one stopped."""
        for name, task in self.tasks.items():
            if task.done():
                return f"worker {name} stopped"
        return None

    @staticmethod
    def _ended(task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("service.worker_died", worker=task.get_name(), exc_info=exc)


async def watchdog(notifier: Notifier, workers: Workers, stop: asyncio.Event) -> None:
    """WATCHDOG=1 every half timeout while alive. Once a worker has stopped it never
    comes back, so the pings end for good and systemd restarts the daemon."""
    interval = notifier.watchdog_seconds
    if interval is None:
        return
    while not stop.is_set():
        trouble = workers.problem()
        if trouble is not None:
            log.error("service.watchdog_withheld", reason=trouble)
            return
        notifier.send("WATCHDOG=1")
        await wait_any(stop, at_most=interval)
