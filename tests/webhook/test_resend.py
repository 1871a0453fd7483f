"""``resend`` (spec section 8): each task's last delivered version again, under its own
delivery id, newly timestamped and signed, through the outbox with fresh attempts; a
task whose latest version is pending or dead is reported, not resent. Real PostgreSQL,
a real receiver on 127.0.0.1 and the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace

import aiohttp
import pytest

from daemon.demo.fake_receiver import WebhookReceiver, verify_standard
from daemon.store.db import Db
from daemon.webhook import sender
from daemon.webhook.resend import resend_day
from daemon.webhook.sender import create_session, deliver_due
from tests.webhook.test_webhook_delivery import CFG, DAY, SECRET, add_task, enqueue, stats


@pytest.fixture
async def rx() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_session(CFG) as s:
        yield s


async def _versions(db: Db, task_id: int) -> list[dict[str, object]]:
    rows = await db.pool.fetch(
        "SELECT id, status, attempts, seq FROM dailystats_deliveries"
        " WHERE task_id = $1 ORDER BY seq",
        task_id,
    )
    return [dict(r) for r in rows]


def _an_hour_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender's clock an hour on, so a resend's timestamp is surely a new one."""
    later = time.time() + 3600
    monkeypatch.setattr(sender, "time", SimpleNamespace(time=lambda: later))


async def test_a_delivered_day_is_sent_again_under_its_own_id_newly_signed(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task, tt_view_count=10)
    await enqueue(db)
    await stats(db, task, tt_view_count=20)
    await enqueue(db)  # version 2 supersedes version 1, then is delivered
    await deliver_due(db, session, CFG)
    [first] = rx.requests
    assert first.json()["stats"][0]["tt_view_count"] == 20
    [_old, delivered] = await _versions(db, task)
    assert delivered["status"] == "delivered"

    report = await resend_day(db, DAY)
    assert report.resent == [(task, delivered["id"])] and report.not_resent == []
    assert report.ok
    [_old, again] = await _versions(db, task)
    assert (again["id"], again["status"], again["attempts"]) == (delivered["id"], "pending", 0)

    _an_hour_later(monkeypatch)
    await deliver_due(db, session, CFG)
    [_, second] = rx.requests
    # The same delivery (id) and bytes, a new timestamp and a new signature over it.
    assert second.delivery_id == first.delivery_id == str(delivered["id"])
    assert second.body == first.body
    assert (
        int(second.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"]) + 3000
    )
    assert second.headers["webhook-signature"] != first.headers["webhook-signature"]
    assert second.signature_ok  # the body's HMAC: same bytes, same X2C signature
    timestamp = int(second.headers["webhook-timestamp"])
    assert verify_standard(SECRET, second.body, second.headers, now=timestamp)
    assert [v["status"] for v in await _versions(db, task)] == ["superseded", "delivered"]
    stored = await db.pool.fetchrow(
        "SELECT webhook_sent FROM task_daily_stats WHERE task_id = $1", task
    )
    assert stored["webhook_sent"] is True


@pytest.mark.parametrize("latest", ["pending", "dead"])
async def test_a_task_whose_latest_version_is_pending_or_dead_is_reported_not_resent(
    db: Db, rx: WebhookReceiver, session: aiohttp.ClientSession, latest: str
) -> None:
    task = await add_task(db, rx.url())
    other = await add_task(db, rx.url(), external_task_id=4343)
    await stats(db, task, tt_view_count=10)
    await stats(db, other, tt_view_count=5)
    await enqueue(db)
    await deliver_due(db, session, CFG)  # both delivered
    await stats(db, task, tt_view_count=11)
    await enqueue(db)  # task: a newer version, pending
    if latest == "dead":
        await db.pool.execute(
            "UPDATE dailystats_deliveries SET status = 'dead' WHERE status = 'pending'"
        )
    [_delivered, newest] = await _versions(db, task)

    report = await resend_day(db, DAY)
    assert [t for t, _ in report.resent] == [other]
    [refused] = report.not_resent
    assert (refused.task_id, refused.delivery_id) == (task, newest["id"])
    assert latest in refused.reason
    # Nothing of that task moved: its delivered version 1 would undo version 2 at X2C.
    assert [v["status"] for v in await _versions(db, task)] == ["delivered", latest]

    one = await resend_day(db, DAY, task)
    assert one.resent == [] and not one.ok  # asked for by name and not resent: a failure
    rx.requests.clear()
    await deliver_due(db, session, CFG, force=True)
    sent = sorted(
        (item["task_id"], item["tt_view_count"])
        for item in (r.json()["stats"][0] for r in rx.requests)
    )
    # The other task's resend, and for ours only its newest version when it is pending.
    assert sent == ([(4242, 11), (4343, 5)] if latest == "pending" else [(4343, 5)])


async def test_resend_on_the_command_line(
    db: Db, db_url: str, rx: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    task = await add_task(db, rx.url())
    await stats(db, task)
    await enqueue(db)
    await deliver_due(db, session, CFG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEBHOOK_"))}
    env.update(DATABASE_URL=db_url, LOG_FORMAT="json")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "daemon", "resend", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = cli("--date", DAY.isoformat(), "--task", str(task))
    assert done.returncode == 0, done.stderr
    assert f"task {task}:" in done.stdout
    assert (await _versions(db, task))[0]["status"] == "pending"
    # Now pending: asked again, it is reported, and the command fails.
    again = cli("--date", DAY.isoformat(), "--task", str(task), "--json")
    assert again.returncode == 1
    assert "pending" in again.stdout and "resend failed" in again.stderr
    nothing = cli("--date", (DAY - timedelta(days=1)).isoformat())
    assert nothing.returncode == 1
