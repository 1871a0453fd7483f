"""``dailystats report``: stored and last delivered numbers, read back as finance would."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date

from daemon.demo.fake_receiver import WebhookReceiver
from daemon.settle.report import DELIVERED, STORED, inert
from daemon.store.db import Db
from tests.settle.settle_world import (
    CONFIG,
    YT,
    add_completion,
    add_task,
    last_delivered_items,
    scan_and_send,
    send,
)
from tests.test_cli import run_cli
from tests.webhook.webhook_world import scan

DAY1, DAY2 = date(2024, 12, 9), date(2024, 12, 10)
FORMULA_TITLE = '=HYPERLINK("http://evil.example","click")'


def _wire_name(column: str) -> str:
    name = column.removeprefix("delivered_")
    return "account_count" if name == "total_account_count" else name


def _csv_bytes(db_url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The CSV as bytes: text mode would hide its CRLF line ends."""
    return subprocess.run(
        [sys.executable, "-m", "daemon", "report", "--format", "csv", *args],
        capture_output=True,
        env={**os.environ, "LOG_FORMAT": "json", "DATABASE_URL": db_url},
        timeout=120,
        check=False,
    )


async def _world(db: Db, x2c: WebhookReceiver) -> None:
    """Five tasks over two days, each showing one path through the outbox."""
    for task_id in range(1, 6):
        title = FORMULA_TITLE if task_id == 1 else None
        await add_task(db, task_id, x2c.url(f"/t{task_id}"), title)
    await add_completion(db, 1, DAY1, 11, views=100)  # delivered, then gains a completion
    await add_completion(db, 2, DAY1, 12, video=YT[1], views=20)  # 500, then 200: a retry
    await add_completion(db, 3, DAY1, 13, video=YT[2], views=7)  # superseded before sent
    await add_completion(db, 4, DAY1, 14, views=100)  # dead: 500 until the last attempt
    await add_completion(db, 5, DAY2, 15, views=5)  # another day, delivered at once
    x2c.statuses(500, path="/t2")
    x2c.statuses(500, 500, path="/t4")
    await scan(db, DAY1, CONFIG)
    # Task 3 changes before anything is sent: its first version is superseded.
    await add_completion(db, 3, DAY1, 23, video=YT[2], views=9)
    await scan_and_send(db, DAY1)
    await send(db)  # task 2's and task 4's second attempts
    await scan_and_send(db, DAY2)
    # Task 1 gains a completion after delivery; its new version fails once and waits.
    # (A video of its own: the same video in task 2 would change task 2's numbers too,
    # since a video's saved counts are the day's across tasks, spec section 3.)
    await add_completion(db, 1, DAY1, 21, video="aqz-KE-bpKQ", views=50)
    x2c.statuses(500, path="/t1")
    await scan_and_send(db, DAY1)


async def test_delivered_totals_are_the_delivered_payloads_sums(db: Db, db_url: str) -> None:
    async with WebhookReceiver() as x2c:
        await _world(db, x2c)
        held = last_delivered_items(x2c)
    assert (
        await db.pool.fetchval(
            "SELECT count(*) FROM dailystats_deliveries WHERE status = 'superseded'"
        )
        == 1
    )

    env = {"DATABASE_URL": db_url}
    raw = _csv_bytes(db_url, "--from", str(DAY1), "--to", str(DAY2))
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.count(b"\r\n") == 6  # RFC 4180 line ends, UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.stdout.decode("utf-8"), newline="")))
    assert len(rows) == 5  # one header, one row a task and day, no totals row
    by_task = {int(r["task_id"]): r for r in rows}

    # The delivered columns are what X2C holds, summed over what it answered 2xx to last.
    for column in DELIVERED:
        expected = sum(item.get(_wire_name(column), 0) for item in held.values())
        assert sum(int(r[column] or 0) for r in rows) == expected, column
    stored = await db.pool.fetch("SELECT * FROM task_daily_stats")
    for column in STORED:
        assert sum(int(r[column]) for r in rows) == sum(s[column] for s in stored), column

    assert by_task[1]["state"] == "pending"  # gained a completion after delivery
    assert (by_task[1]["total_account_count"], by_task[1]["delivered_total_account_count"]) == (
        "2",
        "1",
    )
    assert (by_task[2]["state"], by_task[2]["attempts"]) == ("delivered", "2")  # a retry
    assert by_task[3]["state"] == "delivered" and by_task[3]["delivered_yt_view_count"] == "9"
    assert by_task[4]["state"] == "dead" and by_task[4]["delivery_id"] == ""
    assert by_task[4]["delivered_total_account_count"] == ""  # never delivered: no numbers
    assert by_task[5]["stats_date"] == str(DAY2)
    # A title starting with "=" comes out inert: a leading ' and nothing a sheet would run.
    assert by_task[1]["title"] == "'" + FORMULA_TITLE

    # JSON: the same rows, and totals of both sides.
    result = run_cli("report", "--from", str(DAY1), "--to", str(DAY2), "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["rows"]) == 5
    for column in DELIVERED:
        expected = sum(item.get(_wire_name(column), 0) for item in held.values())
        assert data["totals"]["delivered"][column] == expected
    assert data["totals"]["stored"]["total_completion_count"] == 7

    # By day: the same totals, one row a day; the table prints both totals.
    result = run_cli(
        "report", "--from", str(DAY1), "--to", str(DAY2), "--by", "day", "--format", "csv", env=env
    )
    days = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [d["stats_date"] for d in days] == [str(DAY1), str(DAY2)]
    assert sum(int(d["delivered_yt_view_count"]) for d in days) == sum(
        item.get("yt_view_count", 0) for item in held.values()
    )
    assert (days[0]["delivered"], days[0]["pending"], days[0]["dead"]) == ("2", "1", "1")
    table = run_cli("report", "--from", str(DAY1), "--to", str(DAY2), env=env)
    assert table.returncode == 0, table.stderr
    assert "totals stored:" in table.stdout and "totals delivered:" in table.stdout


async def test_by_node_splits_the_stored_numbers(db: Db, db_url: str) -> None:
    await add_task(db, 1, None)
    await add_completion(db, 1, DAY1, 1, node="North", views=10)
    await add_completion(db, 1, DAY1, 2, video=YT[1], node="-South", views=20)
    await add_completion(db, 1, DAY1, 3, video=YT[2], node="  ", views=30)
    await scan(db, DAY1, CONFIG)
    env = {"DATABASE_URL": db_url}
    result = run_cli(
        "report", "--from", str(DAY1), "--to", str(DAY1), "--by", "node", "--format", "csv", env=env
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    # By node, unassigned last; node names are bot text: inert in a spreadsheet too.
    assert [(r["agent_node"], r["yt_view_count"]) for r in rows] == [
        ("'-South", "20"),
        ("North", "10"),
        ("", "30"),
    ]
    assert all(r["no_receiver"] == "1" and r["delivered_yt_view_count"] == "" for r in rows)


def test_inert_cells() -> None:
    assert [inert(s) for s in ("=1+1", "+1", "-1", "@SUM(A1)", "ok", "")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "ok",
        "",
    ]
