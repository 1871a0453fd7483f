"""``dailystats audit``: each kind of difference, the exit codes, and what it must not do."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import asyncpg

from daemon.demo.fake_providers import FakeProviders
from daemon.demo.fake_receiver import WebhookReceiver
from daemon.fetch import VideoStats
from daemon.store.db import Db
from tests.settle.settle_world import CONFIG, YT, add_completion, add_task, scan_and_send
from tests.test_cli import run_cli
from tests.webhook.webhook_world import scan

DAY = date(2024, 12, 9)


async def _delivered_day(db: Db, x2c: WebhookReceiver) -> dict[str, int]:
    """Three tasks, each delivered: task 1 two completions, 2 and 3 one each."""
    for task_id in (1, 2, 3):
        await add_task(db, task_id, x2c.url(f"/t{task_id}"))
    ids = {
        "t1a": await add_completion(db, 1, DAY, 11, views=100),
        "t1b": await add_completion(db, 1, DAY, 12, video=YT[1], views=40),
        "t2": await add_completion(db, 2, DAY, 13, views=100),
        "t3": await add_completion(db, 3, DAY, 14, video=YT[2], views=None),
    }
    report = await scan_and_send(db, DAY)
    assert report.delivered == 3
    return ids


async def _snapshot(db: Db) -> dict[str, str]:
    """Every persistent table's content, as one digest a table."""
    tables = await db.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    )
    out = {}
    for (name,) in tables:
        out[name] = await db.pool.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{name}\" t"
        )
    return out


def _audit(db_url: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    span = ("--from", str(DAY), "--to", str(DAY))
    result = run_cli("audit", *span, *extra, env={"DATABASE_URL": db_url, **(env or {})})
    return result.returncode, result.stdout, result.stderr


async def test_an_untouched_day_exits_0_and_writes_nothing(db: Db, db_url: str) -> None:
    # Task 3's video has no saved counts: its numbers were fetched (cached) for the day.
    await db.pool.execute(
        "INSERT INTO dailystats_video_stats (platform, video_id, status, view_count,"
        " like_count, comment_count) VALUES ('yt', $1, 'ok', 500, 5, 1)",
        YT[2],
    )
    async with WebhookReceiver() as x2c:
        await _delivered_day(db, x2c)
    # The provider's numbers move on since (another day's scan fetched them again): that
    # is provider drift, not drift of what was paid on.
    await db.pool.execute("UPDATE dailystats_video_stats SET view_count = 9999")
    before = await _snapshot(db)
    code, out, err = _audit(db_url)
    assert code == 0, err
    assert "video numbers: the video numbers stored for the day" in out
    assert "nothing differs" in out
    assert await _snapshot(db) == before

    # A day scanned before per-day numbers were stored: the cached stats, and it says so.
    await db.pool.execute("DELETE FROM dailystats_day_video_stats")
    code, out, err = _audit(db_url, "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["days"][str(DAY)]["video_numbers"] == (
        "cached stats (no video numbers stored for this day)"
    )
    assert [(f["task_id"], f["field"], f["delivered"], f["now"]) for f in report["findings"]] == [
        (3, "yt_view_count", 500, 9999)
    ]


async def test_each_kind_of_difference_exits_1_naming_task_field_and_values(
    db: Db, db_url: str
) -> None:
    async with WebhookReceiver() as x2c:
        ids = await _delivered_day(db, x2c)
        # A rejection after delivery (task 1); a delivered task whose completions are all
        # rejected (task 3); a task-day never delivered (task 4: no receiver at all); a
        # late completion (task 2). Their new versions fail once and wait: pending.
        await db.pool.execute(
            "UPDATE user_tasks SET status = 'rejected' WHERE id = ANY($1::int[])",
            [ids["t1b"], ids["t3"]],
        )
        await add_task(db, 4, None)
        await add_completion(db, 4, DAY, 15, views=8)
        await add_completion(db, 2, DAY, 16, video=YT[2], views=None)
        for task_id in (1, 2, 3):
            x2c.statuses(500, path=f"/t{task_id}")
        await scan_and_send(db, DAY)
        before = await _snapshot(db)
        code, out, err = _audit(db_url, "--json")
    assert code == 1, err
    assert err.strip() == "dailystats: audit: 11 difference(s)"
    found = {
        (f["task_id"], f["kind"], f["field"]): (f["delivered"], f["now"])
        for f in json.loads(out)["findings"]
    }
    pending = {(t, "pending") for t, kind, _ in found if kind == "pending"}
    assert pending == {(1, "pending"), (2, "pending"), (3, "pending")}
    changed = {k: v for k, v in found.items() if k[1] == "changed"}
    assert changed == {
        (1, "changed", "account_count"): (2, 1),
        (1, "changed", "yt_account_count"): (2, 1),
        (1, "changed", "yt_view_count"): (140, 100),
        (1, "changed", "yt_like_count"): (6, 3),
        (2, "changed", "account_count"): (1, 2),
        (2, "changed", "yt_account_count"): (1, 2),
    }
    gone = found[(3, "gone", "account_count")]
    assert gone[0]["account_count"] == 1 and gone[1] is None
    never = found[(4, "never_delivered", None)]
    assert never[0] == "unsent" and never[1]["account_count"] == 1
    assert len(found) == 11
    assert await _snapshot(db) == before  # no persistent row written

    code, text, _ = _audit(db_url)
    assert code == 1
    assert "2024-12-09 task 1 (X2C 1001): yt_view_count delivered 140, now 100" in text
    assert "2024-12-09 task 3 (X2C 1003): delivered " in text
    assert "its completions are now gone" in text


async def test_exit_2_on_a_bad_database_url() -> None:
    code, _, err = _audit("postgresql://nobody@127.0.0.1:1/none")
    assert code == 2
    assert err.startswith("dailystats: cannot connect to DATABASE_URL")


async def test_no_provider_call_and_no_wait_on_a_day_lock(
    db: Db, db_url: str, fake: tuple[FakeProviders, str]
) -> None:
    providers, base = fake
    providers.add_video("yt", YT[0], VideoStats(views=5000, likes=1, comments=1))
    await add_task(db, 1, None)
    await add_completion(db, 1, DAY, 11, views=None)  # a video a scan would fetch
    await scan(db, DAY, CONFIG)
    holder = await asyncpg.connect(db_url)
    try:  # the day's lock, held as a scanning daemon holds it
        await holder.execute("SELECT pg_advisory_lock(7210135, $1::date - DATE '2000-01-01')", DAY)
        env = {"YOUTUBE_API_KEY": "k", "YOUTUBE_API_URL": f"{base}/youtube/v3"}
        code, out, err = await asyncio.to_thread(_audit, db_url, env=env)
    finally:
        await holder.close()
    assert code == 1, err  # never delivered (no receiver), and found without waiting
    assert "never delivered" in out
    assert providers.requests_to("youtube") == []
