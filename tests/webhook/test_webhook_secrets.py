"""A URL and its secret go together (spec section 6, revision 2; issue 7, "Secrets cross
receivers"): the default secret never signs for, nor is sent to, a task's own URL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from daemon.demo.fake_receiver import WebhookReceiver, verify_x2c
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import replay
from daemon.webhook.sender import create_session, deliver_due
from daemon.webhook.signing import secret_for
from tests.webhook.test_webhook_delivery import CFG, add_task, deliveries, enqueue, stats

TASK_SECRET = "task-own-秘密"
DEFAULT_SECRET = "default-receiver-secret"


def _cfg(rx: WebhookReceiver, **changes: object) -> DeliveryConfig:
    return replace(CFG, default_url=rx.url("/default"), default_secret=DEFAULT_SECRET, **changes)


async def _deliver(db: Db, cfg: DeliveryConfig) -> int:
    async with create_session(cfg) as session:
        return (await deliver_due(db, session, cfg, force=True)).unsigned


@pytest.mark.parametrize(
    ("source", "task_secret", "expected"),
    [
        ("task", "t", "t"),
        ("task", None, None),
        ("task", "", None),
        ("default", "t", "d"),
        ("default", None, "d"),
    ],
)
def test_secret_for(source: str, task_secret: str | None, expected: str | None) -> None:
    assert secret_for(source, task_secret, "d") == expected
    assert secret_for("default", task_secret, None) is None


async def test_own_url_is_signed_with_its_own_secret_only(db: Db) -> None:
    async with WebhookReceiver(secret=TASK_SECRET) as rx:
        cfg = _cfg(rx)
        task = await add_task(db, rx.url("/own"), secret=TASK_SECRET)
        await stats(db, task)
        await enqueue(db, cfg)
        assert await _deliver(db, cfg) == 0
        [request] = rx.requests
        assert request.path == "/own"
        assert request.signature_ok and request.standard_ok
        signature = request.headers["X-Webhook-Signature"]
        assert not verify_x2c(DEFAULT_SECRET, request.body, signature)


async def test_a_task_secret_without_a_url_never_signs_for_the_default_receiver(db: Db) -> None:
    async with WebhookReceiver(secret=DEFAULT_SECRET) as rx:
        cfg = _cfg(rx)
        task = await add_task(db, None, secret=TASK_SECRET)
        await stats(db, task)
        await enqueue(db, cfg)
        assert [d["url_source"] for d in await deliveries(db)] == ["default"]
        assert await _deliver(db, cfg) == 0
        [request] = rx.requests
        assert request.path == "/default"
        assert request.signature_ok and request.standard_ok  # the default secret
        signature = request.headers["X-Webhook-Signature"]
        assert not verify_x2c(TASK_SECRET, request.body, signature)


@pytest.mark.parametrize("legacy", [False, True])
async def test_a_task_url_without_a_secret_goes_unsigned_and_is_counted(
    db: Db, legacy: bool
) -> None:
    async with WebhookReceiver() as rx:
        cfg = _cfg(rx, legacy_secret_header=legacy)
        task = await add_task(db, rx.url("/partner"), secret=None)
        await stats(db, task)
        await enqueue(db, cfg)
        with capture_logs() as logs:
            assert await _deliver(db, cfg) == 1
        [request] = rx.requests
        for header in ("X-Webhook-Signature", "webhook-signature", "X-Webhook-Secret"):
            assert header not in request.headers
        assert DEFAULT_SECRET.encode() not in b"".join(
            f"{k}: {v}".encode() for k, v in request.headers.items()
        )
        assert [e["task_id"] for e in logs if e["event"] == "delivery.unsigned"] == [task]
        [summary] = [e for e in logs if e["event"] == "delivery.pass"]
        assert summary["unsigned"] == 1


async def test_legacy_header_carries_the_secret_of_the_url_it_goes_to(db: Db) -> None:
    async with WebhookReceiver() as rx:
        cfg = _cfg(rx, legacy_secret_header=True)
        own = await add_task(db, rx.url("/own"), secret=TASK_SECRET)
        via_default = await add_task(db, None, secret=TASK_SECRET)
        await stats(db, own)
        await stats(db, via_default)
        await enqueue(db, cfg)
        await _deliver(db, cfg)
        sent = {r.path: r.headers["X-Webhook-Secret"] for r in rx.requests}
        assert sent == {"/own": TASK_SECRET, "/default": DEFAULT_SECRET}


async def test_replay_to_the_tasks_new_url_signs_with_the_tasks_secret(db: Db) -> None:
    async with WebhookReceiver() as rx:
        rx.set_secret("/default", DEFAULT_SECRET)
        rx.set_secret("/fixed", TASK_SECRET)
        cfg = _cfg(rx)
        task = await add_task(db, None, secret=None)
        await stats(db, task)
        await enqueue(db, cfg)
        await db.pool.execute("UPDATE dailystats_deliveries SET status = 'dead'")
        # the operator gives the task its own receiver, then replays the dead delivery
        await db.pool.execute(
            "UPDATE drama_tasks SET callback_url = $1, callback_secret = $2",
            rx.url("/fixed"),
            TASK_SECRET,
        )
        assert await replay(db, all_dead=True) == 1
        [delivery] = await deliveries(db)
        assert (delivery["url"], delivery["url_source"]) == (rx.url("/fixed"), "task")
        await _deliver(db, cfg)
        [request] = rx.requests
        assert request.path == "/fixed" and request.signature_ok and request.standard_ok


async def test_the_same_url_from_another_source_is_signed_as_the_task_names_it(db: Db) -> None:
    """Revision 3: not a new delivery (the payload did not change), but the waiting one
    reads URL and secret together at its attempt: the task's own, with its own secret."""
    async with WebhookReceiver(secret=TASK_SECRET) as rx:
        cfg = _cfg(rx)
        task = await add_task(db, None, secret=None)
        await stats(db, task)
        assert await enqueue(db, cfg) == 1
        # the task now names the default URL as its own, with its own secret
        await db.pool.execute(
            "UPDATE drama_tasks SET callback_url = $1, callback_secret = $2",
            rx.url("/default"),
            TASK_SECRET,
        )
        assert await enqueue(db, cfg) == 0
        assert await _deliver(db, cfg) == 0
        [request] = rx.requests
        assert request.signature_ok  # its own secret, never the default one
        signature = request.headers["X-Webhook-Signature"]
        assert not verify_x2c(DEFAULT_SECRET, request.body, signature)
        assert [d["url_source"] for d in await deliveries(db)] == ["task"]


async def test_migration_0010_labels_old_versions_safely_and_runs_again(db: Db) -> None:
    """Versions queued before url_source existed: only a task without a URL went to the
    default receiver; the rest are the task's own, so the default secret stays home."""
    from daemon.store.migrations import default_dir

    sql = (default_dir() / "0010_delivery_url_source.sql").read_text(encoding="utf-8")
    with_url = await add_task(db, "https://x2c.example/hook", secret=TASK_SECRET)
    without_url = await add_task(db, None, secret=TASK_SECRET)
    await db.pool.execute("ALTER TABLE dailystats_deliveries DROP COLUMN url_source")
    await db.pool.execute(
        """INSERT INTO dailystats_deliveries (task_id, stats_date, url, body)
           VALUES ($1, '2024-12-09', 'https://x2c.example/hook', '{}'),
                  ($2, '2024-12-09', 'https://default.example/hook', '{}')""",
        with_url,
        without_url,
    )
    for _ in range(2):  # idempotent: the second run changes nothing
        await db.pool.execute(sql)
        rows = await db.pool.fetch("SELECT task_id, url_source FROM dailystats_deliveries")
        assert {r["task_id"]: r["url_source"] for r in rows} == {
            with_url: "task",
            without_url: "default",
        }
