"""Delivered days for the report and audit tests: real scans, the real sender and a fake
X2C receiver that answers as scripted, so retries, superseded versions and dead
deliveries are the outbox's own."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from daemon.demo.fake_receiver import WebhookReceiver
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.sender import DeliverReport, create_session, deliver_due
from tests.webhook.webhook_world import scan

CONFIG = DeliveryConfig(allow_private=True, max_attempts=2, timeout_seconds=5)
YT = ("dQw4w9WgXcQ", "9bZkp7q19f0", "kJQP7kiw5Fk")


async def add_task(db: Db, task_id: int, url: str | None, title: str | None = None) -> None:
    await db.pool.execute(
        "INSERT INTO drama_tasks (task_id, title, project_id, external_task_id, callback_url)"
        " VALUES ($1, $2, $3, $4, $5)",
        task_id,
        title or f"任务 {task_id}",
        f"proj-{task_id}",
        1000 + task_id,
        url,
    )


async def add_completion(
    db: Db,
    task_id: int,
    day: date,
    user_id: int,
    *,
    video: str = YT[0],
    hour: int = 12,
    views: int | None = 100,
    node: str | None = None,
) -> int:
    """One YouTube completion (saved views, unless None) by ``user_id`` of ``node``."""
    await db.pool.execute(
        "INSERT INTO users (user_id, agent_node) VALUES ($1, $2)"
        " ON CONFLICT (user_id) DO UPDATE SET agent_node = EXCLUDED.agent_node",
        user_id,
        node,
    )
    details = None if views is None else f'{{"view_count": {views}, "like_count": 3}}'
    completion: int = await db.pool.fetchval(
        "INSERT INTO user_tasks (user_id, task_id, status, platform, submission_link,"
        " submitted_at, verification_details) VALUES ($1, $2, 'submitted', 'YouTube', $3, $4,"
        " $5::jsonb) RETURNING id",
        user_id,
        task_id,
        f"https://www.youtube.com/watch?v={video}",
        datetime(day.year, day.month, day.day, hour),
        details,
    )
    return completion


async def send(db: Db, cfg: DeliveryConfig = CONFIG) -> DeliverReport:
    """One forced pass: every pending delivery once, due or not."""
    async with create_session(cfg) as session:
        return await deliver_due(db, session, cfg, force=True)


async def scan_and_send(db: Db, day: date, cfg: DeliveryConfig = CONFIG) -> DeliverReport:
    await scan(db, day, cfg)
    return await send(db, cfg)


def last_delivered_items(receiver: WebhookReceiver) -> dict[tuple[str, str], dict[str, Any]]:
    """What X2C holds: per receiver path and stats date, the last item answered 2xx."""
    held: dict[tuple[str, str], dict[str, Any]] = {}
    for request in receiver.requests:
        if 200 <= request.status < 300:
            item = request.json()["stats"][0]
            held[(request.path, item["stats_date"])] = item
    return held
