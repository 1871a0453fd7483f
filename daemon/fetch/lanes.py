"""Run queued jobs in bounded lanes and hand back results as they complete."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")


def _never_stopped() -> str | None:
    return None


@dataclass(eq=False)
class Lane(Generic[J, R]):
    """One queue of jobs (one endpoint) with its own bound on running jobs.

    A lane per endpoint keeps a rate-limited endpoint from occupying the places
    of the others: TikTok waiting for its turn never delays Douyin or YouTube.
    """

    name: str
    jobs: deque[J]
    run: Callable[[J], Awaitable[list[R]]]
    # The results a job ends with when it cannot run: the provider stopped, or a bug.
    fail: Callable[[J, str], list[R]]
    limit: int
    # Why the lane's provider stopped, if it did: its queued jobs then fail at once.
    stop_reason: Callable[[], str | None] = _never_stopped
    # The results of a job not run because the provider stopped (default: ``fail``).
    halt: Callable[[J, str], list[R]] | None = None
    running: int = field(default=0, init=False)


async def _guarded(lane: Lane[J, R], job: J) -> list[R]:
    try:
        return await lane.run(job)
    except Exception as exc:
        # A bug in one job must not end the run; it shows up as that job's failure.
        log.exception("unexpected error in %s job", lane.name)
        return lane.fail(job, f"unexpected {type(exc).__name__}: {exc}")


async def run_lanes(lanes: Sequence[Lane[Any, R]]) -> AsyncGenerator[R, None]:
    """Yield every job's results in completion order.

    At most ``lane.limit`` jobs of a lane run at once, and new jobs start only
    when the consumer asks for more, so memory is bounded by the running jobs
    whatever the number of queued ones. Closing the generator cancels them.
    """
    running: dict[asyncio.Task[list[R]], Lane[Any, R]] = {}
    # Finished tasks arrive here through a done callback: O(1) per completion,
    # where asyncio.wait(FIRST_COMPLETED) re-registers on every running task.
    finished: asyncio.Queue[asyncio.Task[list[R]]] = asyncio.Queue()
    try:
        while True:
            ready: list[R] = []
            for lane in lanes:
                reason = lane.stop_reason()
                if reason is not None:
                    halt = lane.halt or lane.fail
                    while lane.jobs:
                        ready.extend(halt(lane.jobs.popleft(), reason))
                while lane.jobs and lane.running < lane.limit:
                    task = asyncio.create_task(
                        _guarded(lane, lane.jobs.popleft()), name=f"fetch-lane-{lane.name}"
                    )
                    task.add_done_callback(finished.put_nowait)
                    running[task] = lane
                    lane.running += 1
            for item in ready:
                yield item
            if not running:
                if any(lane.jobs for lane in lanes):
                    continue
                return
            task = await finished.get()
            running.pop(task).running -= 1
            for item in task.result():
                yield item
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
