"""SIGTERM stops new claims (issue 8), and the status line decides a delivery: a 2xx
whose body trickles in, or never ends, is delivered, its body read bounded and briefly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from aiohttp import web

from daemon.demo.fake_receiver import Reply, WebhookReceiver
from daemon.run.pipeline import deliver_pass
from daemon.settings import load_settings
from daemon.store.db import Db
from daemon.webhook.outbox import DELIVERY_RESPONSE_LIMIT, STATS_RESPONSE_LIMIT
from daemon.webhook.post import RESPONSE_READ_LIMIT
from daemon.webhook.sender import create_session, deliver_due
from tests.webhook.test_webhook_delivery import CFG, add_task, deliveries, enqueue, stats, stats_row


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``condition()`` until true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def _queue(db: Db, url: str, n: int) -> None:
    await db.pool.execute(
        """INSERT INTO drama_tasks (title, callback_url) SELECT 'task ' || g, $1
           FROM generate_series(1, $2) AS g""",
        url,
        n,
    )
    await db.pool.execute(
        """INSERT INTO task_daily_stats (task_id, stats_date, total_account_count,
                                         total_completion_count, tt_account_count)
           SELECT task_id, '2024-12-09', 1, 1, 1 FROM drama_tasks"""
    )
    assert await enqueue(db) == n


async def test_stop_ends_claiming_and_what_is_in_hand_is_finished(db: Db) -> None:
    async with WebhookReceiver(latency=0.05) as rx:
        await _queue(db, rx.url(), 100)
        cfg = replace(CFG, concurrency=2)
        stop = asyncio.Event()
        async with create_session(cfg) as session:
            sending = asyncio.create_task(deliver_due(db, session, cfg, stop=stop))
            await _until(lambda: len(rx.requests) >= 1)
            stop.set()  # what the daemon does on SIGTERM
            report = await asyncio.wait_for(sending, 30)

    rows = await deliveries(db)
    sent = [r for r in rows if r["attempts"] > 0]
    # one batch or two were in hand; the rest never claimed
    assert 0 < report.attempted == len(sent) == len(rx.requests) <= 2 * max(2 * 2, 10)
    assert all(r["status"] == "delivered" for r in sent)
    assert all(r["claimed_until"] is None for r in rows)  # nothing left held
    assert sum(r["status"] == "pending" for r in rows) == 100 - len(sent)


async def test_a_stop_set_before_the_pass_claims_nothing(db: Db) -> None:
    async with WebhookReceiver() as rx:
        await _queue(db, rx.url(), 3)
        stop = asyncio.Event()
        stop.set()
        settings = load_settings(database_url="postgresql://unused", webhook_allow_private=True)
        assert (await deliver_pass(db, settings, stop=stop)).attempted == 0
        assert rx.requests == []
        assert (await deliver_pass(db, settings, stop=asyncio.Event())).delivered == 3


# ---------------------------------------------------------------- status decides


@pytest.fixture
async def slow_body() -> AsyncIterator[tuple[str, list[str]]]:
    """A receiver answering 200 at once, then trickling its body (or hanging forever)."""
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        seen.append(request.path)
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        if request.path == "/trickle":
            await response.write(b"\0accepted;" + b"x" * 100)
            for _ in range(10_000):  # 1 byte every 10 ms: 100 s for the whole body
                await response.write(b"y")
                await asyncio.sleep(0.01)
        else:
            await release.wait()  # headers sent, not one byte of the body
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", seen
    finally:
        release.set()
        await runner.cleanup()


@pytest.mark.parametrize("path", ["/trickle", "/hang"])
async def test_a_2xx_whose_body_never_ends_is_delivered(
    db: Db, slow_body: tuple[str, list[str]], path: str
) -> None:
    base, seen = slow_body
    cfg = replace(CFG, timeout_seconds=1.0)  # shorter than the body would take
    task = await add_task(db, base + path)
    await stats(db, task)
    await enqueue(db, cfg)

    async with create_session(cfg) as session:
        report = await asyncio.wait_for(deliver_due(db, session, cfg), 20)

    assert (report.delivered, report.retrying) == (1, 0)
    [delivery] = await deliveries(db)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    kept = delivery["last_response"]
    if path == "/trickle":
        assert kept.startswith("\ufffdaccepted;")  # a NUL cannot be stored as is
        assert len(kept.encode()) <= RESPONSE_READ_LIMIT + 8
    else:
        assert kept == ""
    row = await stats_row(db, task)
    assert row["webhook_sent"] is True
    assert len(row["webhook_response"]) <= STATS_RESPONSE_LIMIT
    assert seen == [path]


async def test_a_huge_answer_is_stored_bounded(db: Db) -> None:
    async with WebhookReceiver() as rx:
        task = await add_task(db, rx.url())
        await stats(db, task)
        await enqueue(db)
        rx.script(Reply(500, body="E" * 1_000_000))
        async with create_session(CFG) as session:
            assert (await deliver_due(db, session, CFG)).retrying == 1
    [delivery] = await deliveries(db)
    assert len(delivery["last_response"]) <= min(RESPONSE_READ_LIMIT, DELIVERY_RESPONSE_LIMIT)
    assert len((await stats_row(db, task))["webhook_response"]) <= STATS_RESPONSE_LIMIT
