"""A URL and its secret read together at each attempt (spec section 6, revision 3): a
partner rotating both while a delivery waits, a default URL changed, a task left with
no receiver, and a changed URL alone after a delivery. Through the outbox and sender."""

from __future__ import annotations

from dataclasses import replace

import pytest

from daemon.demo.fake_receiver import WebhookReceiver, verify_x2c
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.sender import create_session, deliver_due
from tests.webhook.test_webhook_delivery import CFG, add_task, deliveries, enqueue, stats

OLD_SECRET = "secret-A"
NEW_SECRET = "secret-B"


async def _deliver(db: Db, cfg: DeliveryConfig) -> None:
    async with create_session(cfg) as session:
        await deliver_due(db, session, cfg, force=True)


async def _rotate(db: Db, task: int, url: str | None, secret: str | None) -> None:
    await db.pool.execute(
        "UPDATE drama_tasks SET callback_url = $2, callback_secret = $3 WHERE task_id = $1",
        task,
        url,
        secret,
    )


@pytest.mark.parametrize("legacy", [False, True])
async def test_a_rotated_url_and_secret_are_used_together_by_the_next_attempt(
    db: Db, legacy: bool
) -> None:
    async with WebhookReceiver() as rx:
        rx.set_secret("/old-receiver", OLD_SECRET)
        rx.set_secret("/new-receiver", NEW_SECRET)
        cfg = replace(CFG, legacy_secret_header=legacy)
        task = await add_task(db, rx.url("/old-receiver"), secret=OLD_SECRET)
        await stats(db, task)
        await enqueue(db, cfg)
        rx.statuses(500, path="/old-receiver")
        await _deliver(db, cfg)  # failed: waits for its next attempt
        await _rotate(db, task, rx.url("/new-receiver"), NEW_SECRET)
        await _deliver(db, cfg)

        old = [r for r in rx.requests if r.path == "/old-receiver"]
        new = [r for r in rx.requests if r.path == "/new-receiver"]
        assert len(old) == 1 and old[0].signature_ok
        assert len(new) == 1 and new[0].signature_ok and new[0].standard_ok
        for request in old:  # the new secret never reaches the old receiver
            assert NEW_SECRET not in str(request.headers)
            assert not verify_x2c(NEW_SECRET, request.body, request.headers["X-Webhook-Signature"])
        [delivery] = await deliveries(db)
        assert delivery["status"] == "delivered"


async def test_pending_default_deliveries_follow_a_changed_default_url(db: Db) -> None:
    async with WebhookReceiver() as rx:
        rx.set_secret("/default-old", "default-A")
        rx.set_secret("/default-new", "default-B")
        before = replace(CFG, default_url=rx.url("/default-old"), default_secret="default-A")
        task = await add_task(db, None, secret=None)
        await stats(db, task)
        await enqueue(db, before)
        rx.statuses(500, path="/default-old")
        await _deliver(db, before)
        after = replace(CFG, default_url=rx.url("/default-new"), default_secret="default-B")
        await _deliver(db, after)
        paths = [(r.path, r.signature_ok) for r in rx.requests]
        assert paths == [("/default-old", True), ("/default-new", True)]


async def test_a_task_left_with_no_receiver_parks_its_delivery_as_dead(db: Db) -> None:
    async with WebhookReceiver() as rx:
        task = await add_task(db, rx.url("/old-receiver"), secret=OLD_SECRET)
        await stats(db, task)
        await enqueue(db, CFG)
        rx.statuses(500, path="/old-receiver")
        await _deliver(db, CFG)
        await _rotate(db, task, None, None)  # no task URL and no default URL
        await _deliver(db, CFG)
        assert len(rx.requests) == 1
        [delivery] = await deliveries(db)
        assert delivery["status"] == "dead"
        assert "no receiver" in delivery["last_error"]


async def test_a_changed_url_or_secret_alone_does_not_resend_a_delivered_day(db: Db) -> None:
    async with WebhookReceiver() as rx:
        task = await add_task(db, rx.url("/old-receiver"), secret=OLD_SECRET)
        await stats(db, task)
        await enqueue(db, CFG)
        await _deliver(db, CFG)
        await _rotate(db, task, rx.url("/new-receiver"), NEW_SECRET)
        assert await enqueue(db, CFG) == 0
        await _deliver(db, CFG)
        assert [r.path for r in rx.requests] == ["/old-receiver"]
