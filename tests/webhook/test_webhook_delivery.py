"""The outbox and the sender against a real PostgreSQL and a real receiver on 127.0.0.1.

Retries are made due by moving next_attempt_at (or force=True), never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from typing import Any

import aiohttp
import pytest

from daemon.demo.fake_receiver import Reply, WebhookReceiver
from daemon.store.db import Db, create_pool
from daemon.webhook import outbox
from daemon.webhook.attempt import AttemptResult
from daemon.webhook.backoff import Decision
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import (
    claim_due,
    delivery_summary,
    enqueue_deliveries,
    record_attempt,
    replay,
    replay_report,
)
from daemon.webhook.sender import create_session, deliver_due

DAY = date(2024, 12, 9)
SECRET = "x2c-秘密-secret"
CFG = DeliveryConfig(
    site_name="DramaRelayBot",
    allow_private=True,  # the receiver is on 127.0.0.1
    max_attempts=3,
    timeout_seconds=2.0,
    concurrency=4,
    lease_seconds=60,
)


# ---------------------------------------------------------------- helpers


@pytest.fixture
async def rx() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_session(CFG) as s:
        yield s


async def add_task(
    db: Db,
    callback_url: str | None,
    *,
    secret: str | None = SECRET,
    external_task_id: int | None = 4242,
    project_id: str | None = "550e8400-e29b-41d4-a716-446655440000",
    title: str = "霸道总裁爱上我 第1集",
    duration: int = 30,
) -> int:
    task_id: int = await db.pool.fetchval(
        """INSERT INTO drama_tasks (project_id, external_task_id, title, duration,
                                    callback_url, callback_secret)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING task_id""",
        project_id,
        external_task_id,
        title,
        duration,
        callback_url,
        secret,
    )
    return task_id


async def _upsert(db: Db, task_id: int, day: date, counts: dict[str, int]) -> None:
    columns = ", ".join(counts)
    params = ", ".join(f"${i}" for i in range(3, 3 + len(counts)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in counts)
    await db.pool.execute(
        f"""INSERT INTO task_daily_stats (task_id, stats_date, {columns})
            VALUES ($1, $2, {params})
            ON CONFLICT (task_id, stats_date) DO UPDATE SET {updates}""",
        task_id,
        day,
        *counts.values(),
    )


async def stats(db: Db, task_id: int, day: date = DAY, **counts: int) -> None:
    """Upsert the task's row of ``day`` with these counts (defaults: 3 TikTok accounts)."""
    base = {"total_account_count": 3, "total_completion_count": 3, "tt_account_count": 3}
    await _upsert(db, task_id, day, {**base, **counts})


async def enqueue(db: Db, cfg: DeliveryConfig = CFG, day: date = DAY) -> int:
    async with db.transaction() as tx:
        return await enqueue_deliveries(tx, day, cfg)


async def deliveries(db: Db, task_id: int | None = None) -> list[Any]:
    return list(
        await db.pool.fetch(
            """SELECT * FROM dailystats_deliveries
               WHERE $1::int IS NULL OR task_id = $1 ORDER BY seq""",
            task_id,
        )
    )


async def stats_row(db: Db, task_id: int, day: date = DAY) -> Any:
    return await db.pool.fetchrow(
        "SELECT * FROM task_daily_stats WHERE task_id = $1 AND stats_date = $2", task_id, day
    )


async def make_due(db: Db) -> None:
    await db.pool.execute(
        "UPDATE dailystats_deliveries SET next_attempt_at = now() WHERE status = 'pending'"
    )


# ---------------------------------------------------------------- the happy path


async def test_delivered_signed_and_recorded(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url("/t"))
    await stats(db, task, yt_account_count=1, yt_view_count=1200, total_account_count=4)

    assert await enqueue(db) == 1
    report = await deliver_due(db, session, CFG)

    assert (report.attempted, report.delivered, report.failed) == (1, 1, 0)
    [request] = rx.requests
    [delivery] = await deliveries(db)
    assert request.signature_ok and request.standard_ok
    assert request.body == delivery["body"].encode("utf-8")  # the stored bytes are sent
    assert request.delivery_id == str(delivery["id"]) == request.headers["webhook-id"]
    assert request.headers["X-Webhook-Event"] == "task.daily_stats"
    assert "X-Webhook-Secret" not in request.headers
    assert request.json() == {
        "site_name": "DramaRelayBot",
        "event": "task.daily_stats",
        "stats": [
            {
                "project_id": "550e8400-e29b-41d4-a716-446655440000",
                "task_id": 4242,
                "duration": 30,
                "stats_date": "2024-12-09",
                "account_count": 4,
                "yt_account_count": 1,
                "yt_view_count": 1200,
                "tt_account_count": 3,
            }
        ],
    }
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["delivered_at"] is not None
    assert delivery["claimed_until"] is None
    row = await stats_row(db, task)
    assert row["webhook_sent"] is True
    assert row["webhook_sent_at"] is not None
    assert row["webhook_response"] == '{"ok":true}'
    assert row["webhook_retry_count"] == 0


async def test_default_url_and_default_secret(db: Db, rx: WebhookReceiver) -> None:
    whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    rx.set_secret("/default", whsec)
    cfg = replace(CFG, default_url=rx.url("/default"), default_secret=whsec)
    task = await add_task(db, None, secret=None, project_id=None, external_task_id=None)
    await stats(db, task)

    assert await enqueue(db, cfg) == 1
    async with create_session(cfg) as session:
        assert (await deliver_due(db, session, cfg)).delivered == 1
    [request] = rx.requests
    assert request.path == "/default"
    assert request.signature_ok and request.standard_ok
    assert "task_id" not in request.json()["stats"][0]
    assert "project_id" not in request.json()["stats"][0]


async def test_no_url_nothing_queued(db: Db) -> None:
    task = await add_task(db, None)
    await stats(db, task)
    assert await enqueue(db) == 0
    assert await deliveries(db) == []


async def test_no_secret_sends_unsigned(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    rx.set_secret("/plain", None)
    task = await add_task(db, rx.url("/plain"), secret=None)
    await stats(db, task)
    await enqueue(db)
    await deliver_due(db, session, CFG)
    [request] = rx.requests
    assert "X-Webhook-Signature" not in request.headers
    assert "webhook-signature" not in request.headers


# ---------------------------------------------------------------- retries


async def test_500_then_success_with_the_same_id(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db)
    rx.statuses(500)

    first = await deliver_due(db, session, CFG)
    assert (first.attempted, first.retrying, first.failed, first.delivered) == (1, 1, 1, 0)
    [delivery] = await deliveries(db)
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 500
    waited = await db.pool.fetchval(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM dailystats_deliveries"
    )
    assert 3.5 <= float(waited) <= 6.5  # 5 s ± 20%
    row = await stats_row(db, task)
    assert (row["webhook_sent"], row["webhook_retry_count"]) == (False, 1)

    # not due yet: a pass sends nothing
    assert (await deliver_due(db, session, CFG)).attempted == 0

    await make_due(db)
    second = await deliver_due(db, session, CFG)
    assert second.delivered == 1
    first_id, second_id = rx.ids()
    assert first_id == second_id == str(delivery["id"])
    assert all(r.signature_ok and r.standard_ok for r in rx.requests)
    assert rx.requests[0].body == rx.requests[1].body
    [delivery] = await deliveries(db)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    row = await stats_row(db, task)
    assert (row["webhook_sent"], row["webhook_retry_count"]) == (True, 1)


async def test_hang_past_the_timeout_is_a_failed_attempt(db: Db, rx: WebhookReceiver) -> None:
    cfg = replace(CFG, timeout_seconds=0.3)
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db, cfg)
    rx.script(Reply(200, hang=30))

    async with create_session(cfg) as session:
        report = await asyncio.wait_for(deliver_due(db, session, cfg), 10)
    assert (report.retrying, report.delivered) == (1, 0)
    [delivery] = await deliveries(db)
    assert delivery["status"] == "pending"
    assert delivery["last_status_code"] is None
    assert delivery["last_error"].startswith("timeout")
    assert (await stats_row(db, task))["webhook_sent"] is False


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_moves_next_attempt(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession, status: int
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db)
    rx.script(Reply(status, retry_after="120"))

    assert (await deliver_due(db, session, CFG)).retrying == 1
    waited = await db.pool.fetchval(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM dailystats_deliveries"
    )
    assert 115 <= float(waited) <= 121


async def test_410_stops_at_once(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db)
    rx.statuses(410)

    report = await deliver_due(db, session, CFG)
    assert (report.dead, report.retrying) == (1, 0)
    [delivery] = await deliveries(db)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "dead",
        1,
        410,
    )
    assert (await deliver_due(db, session, CFG, force=True)).attempted == 0
    assert len(rx.requests) == 1


async def test_redirect_is_not_followed(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url("/moved"))
    await stats(db, task)
    await enqueue(db)
    rx.script(Reply(302, location=rx.url("/elsewhere")))

    assert (await deliver_due(db, session, CFG)).retrying == 1
    assert [r.path for r in rx.requests] == ["/moved"]
    [delivery] = await deliveries(db)
    assert delivery["last_status_code"] == 302


async def test_dead_after_last_attempt_then_replay_then_delivered(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    cfg = replace(CFG, max_attempts=2)
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db, cfg)
    rx.statuses(500, 502)

    assert (await deliver_due(db, session, cfg)).retrying == 1
    assert (await deliver_due(db, session, cfg, force=True)).dead == 1
    [delivery] = await deliveries(db)
    assert (delivery["status"], delivery["attempts"]) == ("dead", 2)
    row = await stats_row(db, task)
    assert (row["webhook_sent"], row["webhook_retry_count"]) == (False, 2)
    assert (await delivery_summary(db))["counts"]["dead"] == 1

    assert await replay(db, dead_since=DAY) == 1
    [delivery] = await deliveries(db)
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)  # a fresh budget
    assert (await deliver_due(db, session, cfg)).delivered == 1
    assert len(set(rx.ids())) == 1  # the same delivery id throughout
    row = await stats_row(db, task)
    assert row["webhook_sent"] is True


async def test_replay_selectors(db: Db, rx: WebhookReceiver) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    await stats(db, task, day=date(2024, 12, 8))
    await enqueue(db)
    await enqueue(db, day=date(2024, 12, 8))
    await db.pool.execute("UPDATE dailystats_deliveries SET status = 'dead'")
    older, newer = sorted(await deliveries(db), key=lambda r: r["stats_date"])

    assert await replay(db, dead_since=DAY) == 1  # stats dates from DAY on
    report = await replay_report(db, delivery_id=newer["id"])  # already pending now
    assert report.replayed == [] and "pending" in report.refused[0].reason
    assert (await replay_report(db, delivery_id=uuid.uuid4())).refused[0].reason == (
        "no such delivery"
    )
    assert await replay(db, delivery_id=str(older["id"])) == 1
    with pytest.raises(ValueError):
        await replay(db)


# ---------------------------------------------------------------- versions


async def test_unchanged_reenqueue_adds_nothing(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    assert await enqueue(db) == 1
    assert await enqueue(db) == 0  # still pending, same payload
    await deliver_due(db, session, CFG)
    assert await enqueue(db) == 0  # delivered, same payload
    assert len(await deliveries(db)) == 1
    assert len(rx.requests) == 1
    assert (await stats_row(db, task))["webhook_sent"] is True


async def test_a_new_version_resets_the_stats_row_only_where_it_was_not_reset(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    """Queuing a payload resets the row's webhook columns; a row they already read as
    reset (as a day's first aggregation writes it) is not rewritten, so its version
    (xmin) stays, while a delivered row is reset for its new version."""
    task = await add_task(db, rx.url())
    await stats(db, task)
    before = await db.pool.fetchval("SELECT xmin::text FROM task_daily_stats")
    assert await enqueue(db) == 1
    assert await db.pool.fetchval("SELECT xmin::text FROM task_daily_stats") == before
    await deliver_due(db, session, CFG)
    assert (await stats_row(db, task))["webhook_sent"] is True
    await stats(db, task, tt_view_count=9)
    assert await enqueue(db) == 1
    row = await stats_row(db, task)
    assert (row["webhook_sent"], row["webhook_retry_count"]) == (False, 0)


async def test_a_partial_aggregation_queues_its_own_tasks_only(db: Db, rx: WebhookReceiver) -> None:
    """A partial aggregation hands in the tasks it wrote: the rows of the others are not
    even read, so a change there waits for the aggregation that writes it."""
    tasks = [await add_task(db, rx.url(f"/t{n}")) for n in range(3)]
    for task in tasks:
        await stats(db, task)
    async with db.transaction() as tx:
        assert await enqueue_deliveries(tx, DAY, CFG, [tasks[0], tasks[2]]) == 2
    assert sorted(d["task_id"] for d in await deliveries(db)) == [tasks[0], tasks[2]]
    async with db.transaction() as tx:
        assert await enqueue_deliveries(tx, DAY, CFG, []) == 0
    assert await enqueue(db) == 1  # the whole day: the task left out
    assert [d["task_id"] for d in await deliveries(db, tasks[1])] == [tasks[1]]


async def test_a_day_is_queued_a_page_at_a_time(
    db: Db, rx: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox reads the day through a cursor, a page of rows at a time (its memory
    is a page's payloads): every row of every page is queued, once, and a change on
    the last page alone queues that row alone."""
    monkeypatch.setattr(outbox, "PAGE", 2)
    tasks = [await add_task(db, rx.url(f"/t{n}")) for n in range(5)]
    for task in tasks:
        await stats(db, task)
    assert await enqueue(db) == 5
    assert sorted(d["task_id"] for d in await deliveries(db)) == tasks
    assert await enqueue(db) == 0
    await stats(db, tasks[-1], tt_view_count=7)
    assert await enqueue(db) == 1
    assert [d["task_id"] for d in await deliveries(db)][-1] == tasks[-1]


async def test_changed_payload_supersedes_the_pending_one(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task, tt_view_count=100)
    assert await enqueue(db) == 1
    await stats(db, task, tt_view_count=250)
    assert await enqueue(db) == 1

    old, new = await deliveries(db)
    assert (old["status"], new["status"]) == ("superseded", "pending")
    report = await deliver_due(db, session, CFG, force=True)
    assert report.delivered == 1
    [request] = rx.requests
    assert request.delivery_id == str(new["id"])
    assert request.json()["stats"][0]["tt_view_count"] == 250
    # and never afterwards either
    assert (await deliver_due(db, session, CFG, force=True)).attempted == 0


async def test_changed_after_delivery_resends_and_resets_the_row(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db)
    await deliver_due(db, session, CFG)
    assert (await stats_row(db, task))["webhook_sent"] is True

    await stats(db, task, total_account_count=5, tt_account_count=5)
    assert await enqueue(db) == 1
    row = await stats_row(db, task)
    assert (row["webhook_sent"], row["webhook_retry_count"]) == (False, 0)
    await deliver_due(db, session, CFG)
    assert [r.json()["stats"][0]["account_count"] for r in rx.requests] == [3, 5]
    assert (await stats_row(db, task))["webhook_sent"] is True


async def test_superseded_in_flight_blocks_the_new_one_until_done(
    db: Db, rx: WebhookReceiver
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task, tt_view_count=1)
    await enqueue(db)
    [in_flight] = await claim_due(db, 10, 60)  # a sender is sending version 1 now

    await stats(db, task, tt_view_count=2)
    assert await enqueue(db) == 1
    # version 2 must not go out while version 1 may still land after it
    assert await claim_due(db, 10, 60, force=True) == []

    ok = AttemptResult(200, response_text="ok")
    recorded = await record_attempt(db, in_flight, ok, Decision("delivered", "delivered"))
    assert recorded.status == "superseded"  # sent, but a newer version replaced it
    assert recorded.stats_updated is False
    old, new = await deliveries(db)
    assert (old["status"], old["attempts"], old["claimed_until"]) == ("superseded", 1, None)
    assert old["delivered_at"] is not None
    assert (await stats_row(db, task))["webhook_sent"] is False  # version 2 not sent yet

    [claimed] = await claim_due(db, 10, 60)
    assert claimed.id == new["id"]


async def test_expired_lease_is_reclaimed_and_the_stale_sender_records_nothing(
    db: Db, rx: WebhookReceiver
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db)
    [stale] = await claim_due(db, 10, 60)
    assert await claim_due(db, 10, 60) == []  # held
    # the first sender died: its lease runs out
    await db.pool.execute("UPDATE dailystats_deliveries SET claimed_until = now() - interval '1 s'")
    [fresh] = await claim_due(db, 10, 60)
    assert fresh.id == stale.id and fresh.claim_token != stale.claim_token

    failed = AttemptResult(500)
    stale_write = await record_attempt(db, stale, failed, Decision("dead", "exhausted"))
    assert stale_write.lost_claim
    [delivery] = await deliveries(db)
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)


async def test_replay_never_resurrects_a_replaced_version(db: Db, rx: WebhookReceiver) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task, tt_view_count=1)
    await enqueue(db)
    await db.pool.execute("UPDATE dailystats_deliveries SET status = 'dead'")
    await stats(db, task, tt_view_count=2)
    await enqueue(db)  # version 2 queued; the dead version 1 is now outdated

    old, _new = await deliveries(db)
    report = await replay_report(db, all_dead=True)
    assert report.replayed == []
    assert [r.delivery_id for r in report.refused] == [old["id"]]
    assert await replay(db, delivery_id=old["id"]) == 0
    assert [d["status"] for d in await deliveries(db)] == ["dead", "pending"]


# ---------------------------------------------------------------- concurrency, safety


async def test_two_senders_send_each_delivery_once(db: Db, db_url: str) -> None:
    async with WebhookReceiver(secret=SECRET, latency=0.005) as receiver:
        url = receiver.url()
        await db.pool.execute(
            """INSERT INTO drama_tasks (external_task_id, title, callback_url, callback_secret)
               SELECT 1000 + g, '任务 ' || g, $1, $2 FROM generate_series(1, 200) AS g""",
            url,
            SECRET,
        )
        await db.pool.execute(
            """INSERT INTO task_daily_stats (task_id, stats_date, total_account_count,
                                             total_completion_count, dy_account_count)
               SELECT task_id, $1, 2, 2, 2 FROM drama_tasks""",
            DAY,
        )
        assert await enqueue(db) == 200

        pools = [await create_pool(db_url, min_size=1, max_size=4) for _ in range(2)]
        try:
            async with create_session(CFG) as s1, create_session(CFG) as s2:
                r1, r2 = await asyncio.gather(
                    deliver_due(Db(pools[0]), s1, CFG), deliver_due(Db(pools[1]), s2, CFG)
                )
        finally:
            for pool in pools:
                await pool.close()

        assert r1.attempted > 0 and r2.attempted > 0  # both really took part
        assert r1.attempted + r2.attempted == 200
        assert r1.delivered + r2.delivered == 200
        assert len(receiver.requests) == 200
        assert len(set(receiver.ids())) == 200
        assert receiver.duplicates() == {}
        assert all(r.signature_ok and r.standard_ok for r in receiver.requests)
    assert (await delivery_summary(db))["counts"]["delivered"] == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_address_refused_unless_allowed(
    db: Db, rx: WebhookReceiver, host: str
) -> None:
    strict = replace(CFG, allow_private=False)
    task = await add_task(db, rx.url().replace("127.0.0.1", host))
    await stats(db, task)
    await enqueue(db, strict)

    async with create_session(strict) as session:
        report = await deliver_due(db, session, strict)
    assert report.dead == 1
    assert rx.requests == []  # never connected
    [delivery] = await deliveries(db)
    assert delivery["status"] == "dead"
    assert "refused" in delivery["last_error"] and "loopback" in delivery["last_error"]

    # an operator who allows private addresses replays it
    assert await replay(db, delivery_id=delivery["id"]) == 1
    async with create_session(CFG) as session:
        assert (await deliver_due(db, session, CFG)).delivered == 1
    assert len(rx.requests) == 1


async def test_summary(db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession) -> None:
    first = await add_task(db, rx.url())
    second = await add_task(db, rx.url())
    await stats(db, first)
    await stats(db, second)
    await enqueue(db)
    rx.statuses(500)  # whichever goes first fails
    cfg = replace(CFG, concurrency=1)
    await deliver_due(db, session, cfg)

    summary = await delivery_summary(db)
    assert summary["counts"] == {"pending": 1, "delivered": 1, "dead": 0, "superseded": 0}
    assert summary["due"] == 0
    oldest = summary["oldest_pending"]
    assert oldest["attempts"] == 1 and oldest["stats_date"] == "2024-12-09"
    assert json.dumps(summary)  # ready for --json
