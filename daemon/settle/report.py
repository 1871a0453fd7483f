"""``dailystats report``: the settlement numbers of a range, as stored and as last delivered.

What finance reconciles against X2C (spec section 9): per task and day, per node and
day, or per day, the stored numbers (named as in ``task_daily_stats``), the state of
the latest version, the last delivered one (the highest version with a 2xx recorded,
whatever its status now) and the numbers that version carried. It reads stored rows
only, streamed through a server-side cursor, so a month of 10,000 tasks never sits in
memory and the answer does not depend on what the providers say today.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TextIO

from daemon.store.db import Db, Record
from daemon.webhook.nodes import COUNT_FIELDS

BATCH = 5000
STORED = COUNT_FIELDS
# What a payload carries: everything but the completion count, under these names.
DELIVERED = tuple(f"delivered_{c}" for c in COUNT_FIELDS if c != "total_completion_count")
STATES = ("delivered", "pending", "dead", "unsent", "no_receiver")
KEYS = {
    "task": ("stats_date", "task_id", "external_task_id", "project_id", "title"),
    "node": ("stats_date", "agent_node", "tasks", *STATES),
    "day": ("stats_date", "tasks", *STATES),
}
DELIVERY = ("state", "delivered_at", "delivery_id", "attempts")
# Cells from partner or bot text: a spreadsheet must never run them.
TEXT = frozenset({"project_id", "title", "agent_node"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The table shows these; --format csv or json has every column.
TABLE = (
    "total_account_count",
    "total_completion_count",
    "yt_view_count",
    "tt_view_count",
    "dy_view_count",
)


def columns(by: str) -> tuple[str, ...]:
    return KEYS[by] + STORED + (DELIVERY if by == "task" else ()) + DELIVERED


def inert(text: str) -> str:
    """A text cell no spreadsheet evaluates (OWASP's CSV injection advice: a leading ')."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(slots=True)
class Totals:
    stored: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORED, 0))
    delivered: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DELIVERED, 0))
    rows: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows += 1
        for name in STORED:
            self.stored[name] += row[name] or 0
        for name in DELIVERED:
            self.delivered[name] += row[name] or 0

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "stored": self.stored, "delivered": self.delivered}


async def report_rows(
    db: Db, first: date, last: date, by: str, *, default_url: bool
) -> AsyncIterator[dict[str, Any]]:
    """The report's rows in order, one dict each (columns(by) keys), from one snapshot."""
    query = "report_node_days" if by == "node" else "report_task_days"
    async with (
        db.connection() as tx,
        tx.conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        cursor = await tx.cursor(query, first, last, default_url)
        day: dict[str, Any] | None = None
        while records := await cursor.fetch(BATCH):
            for record in records:
                row = _node_row(record) if by == "node" else _task_row(record)
                if by != "day":
                    yield row
                elif day is None or day["stats_date"] != row["stats_date"]:
                    if day is not None:
                        yield day
                    day = _day_start(row)
                else:
                    _day_add(day, row)
        if day is not None:
            yield day


def _task_row(record: Record) -> dict[str, Any]:
    row = dict(record)
    delivered = row["delivery_id"] is not None
    for name in DELIVERED:  # a count the payload left out was 0 by its rules
        row[name] = (row[name] or 0) if delivered else None
    row["state"] = row["state"].replace(" ", "_")
    return row


def _node_row(record: Record) -> dict[str, Any]:
    row = dict(record)
    for name in STORED:
        row[name] = int(row[name] or 0)
    for name in DELIVERED:
        row[name] = None if row[name] is None else int(row[name])
    return row


def _day_start(row: dict[str, Any]) -> dict[str, Any]:
    day = {"stats_date": row["stats_date"], "tasks": 0, **dict.fromkeys(STATES, 0)}
    day.update(dict.fromkeys(STORED, 0))
    day.update(dict.fromkeys(DELIVERED))
    _day_add(day, row)
    return day


def _day_add(day: dict[str, Any], row: dict[str, Any]) -> None:
    day["tasks"] += 1
    if row["state"] in STATES:
        day[row["state"]] += 1
    for name in STORED:
        day[name] += row[name]
    if row["delivery_id"] is not None:
        for name in DELIVERED:
            day[name] = (day[name] or 0) + row[name]


def _cell(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if name in TEXT:
        return inert(str(value))
    return value


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


async def write_report(
    rows: AsyncIterator[dict[str, Any]], by: str, fmt: str, out: TextIO, span: tuple[date, date]
) -> Totals:
    """Write the rows as csv, json or a table while they stream; the totals of both sides."""
    names = columns(by)
    totals = Totals()
    if fmt == "csv":
        # RFC 4180: CRLF line ends, quotes only where needed, one header, no totals row.
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(names)
        async for row in rows:
            totals.add(row)
            writer.writerow([_cell(n, row[n]) for n in names])
        return totals
    if fmt == "json":
        head = {"from": span[0].isoformat(), "to": span[1].isoformat(), "by": by}
        out.write(json.dumps(head)[:-1] + ', "rows": [')
        sep = "\n  "
        async for row in rows:
            totals.add(row)
            item = {n: _json_value(row[n]) for n in names}
            out.write(sep + json.dumps(item, ensure_ascii=False, default=str))
            sep = ",\n  "
        out.write('\n], "totals": ' + json.dumps(totals.as_dict()) + "}\n")
        return totals
    async for row in rows:
        totals.add(row)
        out.write(_table_line(row, by) + "\n")
    if not totals.rows:
        out.write(f"no stored numbers from {span[0]} to {span[1]}\n")
    for side, sums in (("stored", totals.stored), ("delivered", totals.delivered)):
        out.write(f"totals {side}: " + " ".join(f"{k}={v}" for k, v in sums.items()) + "\n")
    return totals


def _table_line(row: dict[str, Any], by: str) -> str:
    """One row for people: its key, its state, the main counts as stored/delivered."""
    if by == "task":
        head = f"{row['stats_date']} task {row['task_id']} (X2C {row['external_task_id']})"
        head += f" {row['state']}"
        if row["delivery_id"] is not None:
            head += f" (last delivered {row['delivered_at']:%Y-%m-%d %H:%M} {row['delivery_id']},"
            head += f" {row['attempts']} attempt(s))"
    else:
        node = f" node {row['agent_node'] or '(unassigned)'}" if by == "node" else ""
        states = ", ".join(f"{row[s]} {s}" for s in STATES if row[s])
        head = f"{row['stats_date']}{node} {row['tasks']} task(s) ({states or 'none'})"
    counts = []
    for name in TABLE:
        delivered = row.get(f"delivered_{name}", "")
        shown = "-" if delivered is None else delivered
        counts.append(
            f"{name.removesuffix('_count')} {row[name]}" + (f"/{shown}" if delivered != "" else "")
        )
    return head + ": " + ", ".join(counts)
