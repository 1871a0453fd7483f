"""``dailystats report``: the settlement numbers of a range, as stored and as last delivered.

What finance reconciles against X2C (spec section 9): per task and day, per node and
day, or per day, the stored numbers (named as in ``task_daily_stats``), the state of
the latest version, the last delivered one (the highest version with a 2xx recorded,
whatever its status now) and the numbers that version carried. It reads stored rows
only, so the answer does not depend on what the providers say today. The CSV by task
(what finance downloads: a month of 10,000 tasks is 300,000 rows) is written by
PostgreSQL itself (COPY) and streamed through; everything else comes through a
server-side cursor. Neither keeps the month in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO, TextIO

from daemon.rules.counts import COUNT_FIELDS
from daemon.store.db import Db, Record

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


async def report_batches(
    db: Db, first: date, last: date, by: str, *, default_url: bool
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The report's rows in order, in batches, each a tuple in ``columns(by)`` order,
    from one snapshot. The query hands rows over as the CSV writes them (dates as
    text, "never delivered" as NULL), so a row needs no work in Python on the way."""
    query = "report_node_days" if by == "node" else "report_task_days"
    async with (
        db.connection() as tx,
        tx.conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        await tx.execute("report_session")
        args = (first, last, default_url) + ((False,) if by != "node" else ())
        cursor = await tx.cursor(query, *args)
        days = _Days()
        while records := await cursor.fetch(BATCH):
            if by == "task":
                yield [tuple(r) for r in records]
            elif by == "node":
                yield [_node_row(r) for r in records]
            elif finished := days.add(records):
                yield finished
        if by == "day" and days.current is not None:
            yield [tuple(days.current)]


async def copy_report_csv(
    db: Db, first: date, last: date, out: BinaryIO, *, default_url: bool
) -> int:
    """The report by task as CSV, from one snapshot, written to ``out`` as the server
    makes it (``report_task_days`` with its formula-safe text cells, one header row, the
    columns of ``columns("task")``); the number of rows."""
    lines = CrlfLines(out)
    async with (
        db.connection() as tx,
        tx.conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        await tx.execute("report_session")
        status = await tx.copy_out(
            "report_task_days",
            first,
            last,
            default_url,
            True,
            output=lines.write,
            format="csv",
            header=True,
        )
    return int(status.split()[-1])  # "COPY 300000"


class CrlfLines:
    """COPY's CSV ends a line with LF; RFC 4180 (and the CSV of the other reports) with
    CRLF. An LF inside a quoted cell belongs to the cell and stays as it is. Outside and
    inside alternate at each double quote (an escaped one is two, so it changes nothing),
    which is all the parsing this needs, at the speed of ``bytes.split``."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.quoted = False  # the stream so far ends inside a quoted cell

    async def write(self, data: bytes) -> None:
        parts = data.split(b'"')
        outside = 1 if self.quoted else 0
        parts[outside::2] = [part.replace(b"\n", b"\r\n") for part in parts[outside::2]]
        if len(parts) % 2 == 0:
            self.quoted = not self.quoted
        self.out.write(b'"'.join(parts))


async def report_rows(
    db: Db, first: date, last: date, by: str, *, default_url: bool
) -> AsyncIterator[dict[str, Any]]:
    """The same rows as dicts (``columns(by)`` keys), for the table, JSON and tests."""
    names = columns(by)
    async for batch in report_batches(db, first, last, by, default_url=default_url):
        for row in batch:
            yield dict(zip(names, row, strict=True))


def _node_row(record: Record) -> tuple[Any, ...]:
    """Sums come as numeric: counts again (JSON has no decimals)."""
    return tuple(int(v) if isinstance(v, Decimal) else v for v in record)


class _Days:
    """By day: consecutive task rows of one date summed into one row."""

    TASK = columns("task")
    STATE = TASK.index("state")
    FIRST_STORED = TASK.index(STORED[0])
    FIRST_DELIVERED = TASK.index(DELIVERED[0])

    def __init__(self) -> None:
        self.current: list[Any] | None = None

    def add(self, records: list[Record]) -> list[tuple[Any, ...]]:
        finished = []
        for r in records:
            if self.current is None or self.current[0] != r[0]:
                if self.current is not None:
                    finished.append(tuple(self.current))
                self.current = [r[0], 0, *[0] * len(STATES), *[0] * len(STORED)]
                self.current += [None] * len(DELIVERED)
            day = self.current
            day[1] += 1
            if r[self.STATE] in STATES:
                day[2 + STATES.index(r[self.STATE])] += 1
            base = 2 + len(STATES)
            for k in range(len(STORED)):
                day[base + k] += r[self.FIRST_STORED + k]
            if r[self.FIRST_DELIVERED] is not None:
                base += len(STORED)
                for k in range(len(DELIVERED)):
                    day[base + k] = (day[base + k] or 0) + r[self.FIRST_DELIVERED + k]
        return finished


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


async def write_report(
    batches: AsyncIterator[list[tuple[Any, ...]]],
    by: str,
    fmt: str,
    out: TextIO,
    span: tuple[date, date],
) -> Totals:
    """Write the rows as csv, json or a table while they stream; the totals of both sides
    (table and JSON; the CSV counts its rows only)."""
    names = columns(by)
    totals = Totals()
    if fmt == "csv":
        # RFC 4180: CRLF line ends, quotes only where needed, one header, no totals row
        # (a spreadsheet sums). Only the text cells need a look: nothing else can start
        # a formula.
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(names)
        text = [k for k, n in enumerate(names) if n in TEXT]
        async for batch in batches:
            for cells in batch:
                totals.rows += 1
                if any(
                    isinstance(cells[k], str) and cells[k].startswith(FORMULA_STARTS) for k in text
                ):
                    cells = tuple(
                        inert(v) if k in text and isinstance(v, str) else v
                        for k, v in enumerate(cells)
                    )
                writer.writerow(cells)
        return totals
    rows = (dict(zip(names, row, strict=True)) async for batch in batches for row in batch)
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
            head += f" (last delivered {row['delivered_at']} {row['delivery_id']},"
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
