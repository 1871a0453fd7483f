"""Helpers for webhook tests that go through a real scan: tasks with callback URLs, one
completion each, and an aiohttp resolver the test controls."""

from __future__ import annotations

import socket
from datetime import date, datetime
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from daemon.run.pipeline import outbox_writer
from daemon.scan.day import ScanConfig, ScanReport, scan_day
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig


def answer(host: str, port: int, addresses: tuple[str, ...]) -> list[ResolveResult]:
    """What a resolver returns for ``host`` resolving to ``addresses``."""
    return [
        ResolveResult(
            hostname=host,
            host=address,
            port=port,
            family=socket.AF_INET6 if ":" in address else socket.AF_INET,
            proto=0,
            flags=0,
        )
        for address in addresses
    ]


class MapResolver(AbstractResolver):
    """DNS as the test says: names in ``answers`` get those addresses, "localhost" goes
    to the system's resolver, anything else does not exist."""

    def __init__(self, answers: dict[str, tuple[str, ...]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self._system = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host.rstrip(".").lower() == "localhost":
            return await self._system.resolve("localhost", port, family)
        if host not in self.answers:
            raise OSError(f"no such host: {host}")
        return answer(host, port, self.answers[host])

    async def close(self) -> None:
        await self._system.close()


async def add_task_with_completion(
    db: Db,
    callback_url: str | None,
    day: date,
    *,
    secret: str | None = None,
    user_id: int = 1,
    video: str = "dQw4w9WgXcQ",
) -> int:
    """A task with ``callback_url`` and one YouTube completion on ``day``."""
    task_id: int = await db.pool.fetchval(
        """INSERT INTO drama_tasks (title, callback_url, callback_secret)
           VALUES ('任务', $1, $2) RETURNING task_id""",
        callback_url,
        secret,
    )
    await add_completion(db, task_id, day, user_id=user_id, video=video)
    return task_id


async def add_completion(
    db: Db, task_id: int, day: date, *, user_id: int, video: str = "dQw4w9WgXcQ"
) -> None:
    await db.pool.execute("INSERT INTO users (user_id) VALUES ($1) ON CONFLICT DO NOTHING", user_id)
    await db.pool.execute(
        """INSERT INTO user_tasks (user_id, task_id, status, platform, submission_link,
                                   submitted_at)
           VALUES ($1, $2, 'submitted', 'YouTube', $3, $4)""",
        user_id,
        task_id,
        f"https://www.youtube.com/watch?v={video}",
        datetime(day.year, day.month, day.day, 12, 0),
    )


async def scan(db: Db, day: date, cfg: DeliveryConfig) -> ScanReport:
    """The real scan of ``day``, queueing deliveries as the daemon does."""
    report = await scan_day(
        db, day, ScanConfig.defaults(), trigger="test", enqueue=outbox_writer(cfg)
    )
    assert report.status == "succeeded", report.error
    return report


async def deliveries_by_task(db: Db) -> dict[int, Any]:
    rows = await db.pool.fetch("SELECT * FROM dailystats_deliveries ORDER BY seq")
    return {row["task_id"]: row for row in rows}
