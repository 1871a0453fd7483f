"""The numbers each delivery version carried, stored beside its body (migration 0014), and
the CSV report PostgreSQL writes from them: equal to the body's, through retries, a
resend and the backfill of versions queued before the column existed."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from daemon.demo.fake_receiver import WebhookReceiver
from daemon.settle.report import DELIVERED, CrlfLines, columns, copy_report_csv, report_rows
from daemon.store.db import Db
from daemon.store.migrations import default_dir
from daemon.webhook.resend import resend_day
from tests.settle.settle_world import YT, add_completion, add_task, scan_and_send, send

DAY = date(2024, 12, 9)
# Cells a CSV must quote: a comma, a quote, a line break inside, a formula start.
TITLE = '-1,"two"\nthree\r\nfour'


def body_numbers(body: str) -> list[int]:
    """What X2C read from a body, in DELIVERED order (a field left out: 0)."""
    stats = json.loads(body).get("stats") or [None]
    item = stats[0] if isinstance(stats[0], dict) else {}
    wire = ["account_count" if c == "delivered_total_account_count" else c[10:] for c in DELIVERED]
    return [int(item.get(name) or 0) for name in wire]


async def _stored(db: Db) -> list[Any]:
    return await db.pool.fetch(
        "SELECT id, body, body_counts FROM dailystats_deliveries ORDER BY seq"
    )


async def test_stored_numbers_are_the_bodys_through_retries_and_a_resend(db: Db) -> None:
    async with WebhookReceiver() as x2c:
        await add_task(db, 1, x2c.url("/t1"))
        await add_task(db, 2, x2c.url("/t2"))
        await add_completion(db, 1, DAY, 11, views=100)
        await add_completion(db, 2, DAY, 12, video=YT[1], views=20)
        x2c.statuses(500, path="/t2")
        await scan_and_send(db, DAY)
        await send(db)  # task 2's retry
        await add_completion(db, 1, DAY, 13, video=YT[2], views=7)
        await scan_and_send(db, DAY)  # task 1's second version
        before = {r["id"]: r["body_counts"] for r in await _stored(db)}
        resent = await resend_day(db, DAY)
        assert len(resent.resent) == 2
        await send(db)
        held = [r.json()["stats"][0] for r in x2c.requests if r.status == 200]

    rows = await _stored(db)
    assert len(rows) == 3 and all(r["body_counts"] is not None for r in rows)
    for row in rows:
        assert list(row["body_counts"]) == body_numbers(row["body"])
    # A resend sends the same body under the same id: the same numbers.
    assert {r["id"]: r["body_counts"] for r in rows} == before
    # The report's delivered columns are what X2C last answered 2xx to.
    report = [r async for r in report_rows(db, DAY, DAY, "task", default_url=False)]
    last = {item["task_id"]: item for item in held}  # the resends came last
    for row in report:
        assert [row[c] for c in DELIVERED] == body_numbers(
            json.dumps({"stats": [last[row["external_task_id"]]]})
        )
    assert [row["delivered_yt_view_count"] for row in report] == [107, 20]


async def test_the_migration_fills_versions_queued_before_it(db: Db) -> None:
    await db.pool.execute("ALTER TABLE dailystats_deliveries DROP COLUMN body_counts")
    bodies = [
        json.dumps({"stats": [{"task_id": 1, "account_count": 3, "yt_view_count": 2**40}]}),
        json.dumps({"stats": [{"account_count": 1, "dy_collect_count": 9, "nodes": []}]}),
        json.dumps({"stats": []}),  # no item: nothing carried, all 0
        "{}",
    ]
    for task_id, body in enumerate(bodies, start=1):
        await db.pool.execute(
            "INSERT INTO dailystats_deliveries (task_id, stats_date, url, body, status,"
            " delivered_at) VALUES ($1, $2, 'https://x2c.example/', $3, 'delivered', now())",
            task_id,
            DAY,
            body,
        )
    sql = (default_dir() / "0014_delivered_numbers.sql").read_text(encoding="utf-8")
    for _ in range(2):  # replayed, it changes nothing
        await db.pool.execute(sql)
        rows = await _stored(db)
        assert [list(r["body_counts"]) for r in rows] == [body_numbers(b) for b in bodies]
    assert rows[0]["body_counts"][2] == 2**40 and rows[1]["body_counts"][14] == 9


async def test_server_csv_is_the_cursors_rows_with_inert_text(db: Db) -> None:
    async with WebhookReceiver() as x2c:
        await add_task(db, 1, x2c.url("/t1"), TITLE)
        await add_task(db, 2, None, "=1+1")
        await add_completion(db, 1, DAY, 11, views=100)
        await add_completion(db, 2, DAY, 12, video=YT[1], views=20)
        await scan_and_send(db, DAY)
    out = io.BytesIO()
    assert await copy_report_csv(db, DAY, DAY, out, default_url=False) == 2
    data = out.getvalue()
    # CRLF ends every line; the CR LF and the LF inside the title are the title's own.
    assert data.count(b"\r\n") == 3 + 1 and data.count(b"\n") == 3 + 2
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[0] == list(columns("task"))
    expected = [r async for r in report_rows(db, DAY, DAY, "task", default_url=False)]
    assert [r["state"] for r in expected] == ["delivered", "no_receiver"]
    for cells, row in zip(parsed[1:], expected, strict=True):
        want = ["" if v is None else str(v) for v in row.values()]
        want[columns("task").index("title")] = "'" + row["title"]  # both start a formula
        assert cells == want


async def test_line_ends_outside_quotes_only_across_chunks() -> None:
    out = io.BytesIO()
    lines = CrlfLines(out)
    for chunk in (b'a,"x\n', b'y""', b'z"\n', b"b,\n"):  # a cell split over chunks
        await lines.write(chunk)
    assert out.getvalue() == b'a,"x\ny""z"\r\nb,\r\n'
    assert list(csv.reader(io.StringIO(out.getvalue().decode(), newline=""))) == [
        ["a", 'x\ny"z'],
        ["b", ""],
    ]
