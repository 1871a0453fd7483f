"""``dailystats audit``: is what X2C was paid on still right? (spec section 9)

For each day it recomputes every task's numbers from the bot's data as it is now, with
the scan's own SQL over session temporary tables (``create_day_completions``,
``create_day_videos``, the node split), and the video numbers that day last used:
saved counts as they are now, fetched ones as stored for the day
(``dailystats_day_video_stats``), so provider drift is not drift. A day that has no
stored video numbers yet takes the cached fetched stats, and the report says so.

Then it compares each task's payload now with its last delivered one. It makes no
provider call, writes no persistent row, and never takes the day's advisory lock: a
scan of the day running meanwhile neither waits for it nor is waited for.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from daemon.rules.dates import day_bounds, days_between
from daemon.scan.day import ScanConfig
from daemon.scan.groups import drop_groups, group_rows, resolve_groups
from daemon.scan.write import create_node_split, drop_node_split
from daemon.store.db import Db, Record, Tx
from daemon.webhook.nodes import node_row
from daemon.webhook.outbox import stats_row
from daemon.webhook.payload import StatsRow, node_item, stats_item

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # every cached stat counts as fresh: no fetch
DAY_NUMBERS = "the video numbers stored for the day"
CACHED = "cached stats (no video numbers stored for this day)"


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference. kind: changed (a field), never_delivered, gone, pending, dead."""

    stats_date: date
    task_id: int
    external_task_id: int | None
    kind: str
    field: str | None = None
    delivered: Any = None
    now: Any = None

    def line(self) -> str:
        who = f"{self.stats_date} task {self.task_id} (X2C {self.external_task_id})"
        if self.kind == "changed":
            return f"{who}: {self.field} delivered {self.delivered}, now {self.now}"
        if self.kind == "never_delivered":
            return f"{who}: never delivered (latest: {self.delivered}), now {self.now}"
        if self.kind == "gone":
            return f"{who}: delivered {self.delivered}, its completions are now gone"
        return f"{who}: the latest version is {self.kind} ({self.field})"


@dataclass(slots=True)
class AuditReport:
    first: date
    last: date
    days: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "differs": self.differs,
            "days": self.days,
            "findings": [asdict(f) for f in self.findings],
        }

    def text(self) -> str:
        lines = [
            f"{day}: {info['tasks']} task(s) checked, video numbers: {info['video_numbers']}"
            for day, info in self.days.items()
        ]
        lines += [f.line() for f in self.findings]
        lines.append(f"{len(self.findings)} difference(s)" if self.findings else "nothing differs")
        return "\n".join(lines)


async def audit_range(db: Db, config: ScanConfig, first: date, last: date) -> AuditReport:
    report = AuditReport(first, last)
    for day in days_between(first, last):
        await _audit_day(db, config, day, report)
    return report


async def _audit_day(db: Db, config: ScanConfig, day: date, report: AuditReport) -> None:
    async with db.connection() as tx:
        try:
            # One snapshot: the bot's rows and the deliveries as of the same instant.
            async with tx.conn.transaction(isolation="repeatable_read"):
                stored = await _recompute(tx, config, day)
                tasks = {r["task_id"]: r for r in await tx.fetch("audit_task_numbers")}
                nodes: dict[int, list[Record]] = {}
                for r in await tx.fetch("audit_node_numbers"):
                    nodes.setdefault(r["task_id"], []).append(r)
                sent = {r["task_id"]: r for r in await tx.fetch("settle_deliveries", day, day)}
                ids = {r["task_id"]: r["external_task_id"] for r in tasks.values()}
                others = sorted(set(sent) - set(ids))
                for r in await tx.fetch("audit_delivered_tasks", others):
                    ids[r["task_id"]] = r["external_task_id"]
        finally:
            with contextlib.suppress(Exception):  # a broken connection is reset by the pool
                await drop_node_split(tx)
                await tx.execute("drop_day_videos")
                await tx.execute("drop_day_completions")
                await drop_groups(tx)
    every = sorted(set(tasks) | set(sent))
    report.days[day.isoformat()] = {
        "tasks": len(every),
        "video_numbers": DAY_NUMBERS if stored else CACHED,
    }
    for task_id in every:
        now, its_nodes = tasks.get(task_id), nodes.get(task_id, [])
        report.findings += _compare(
            day, task_id, ids.get(task_id), now, its_nodes, sent.get(task_id)
        )


async def _recompute(tx: Tx, config: ScanConfig, day: date) -> bool:
    """The day's temp tables, as a scan builds them but fetching nothing; True when the
    day's stored video numbers were used."""
    start, end = day_bounds(day, config.zone)
    await tx.execute("create_day_completions", start, end, list(config.completed_statuses))
    await tx.execute("analyze_day_completions")  # temp tables have no statistics otherwise
    await group_rows(tx)
    await resolve_groups(tx)
    await tx.execute("create_day_videos", config.prefer_live, EPOCH, None)
    stored: bool = await tx.fetchval("audit_day_has_video_numbers", day)
    if stored and not config.prefer_live:  # as a settle rescan keeps them (section 7)
        await tx.execute("keep_day_videos", day, "settle")
    await create_node_split(tx)
    return stored


def _compare(
    day: date,
    task_id: int,
    external_id: int | None,
    now: Record | None,
    nodes: list[Record],
    sent: Record | None,
) -> list[Finding]:
    def finding(kind: str, name: str | None = None, was: Any = None, is_: Any = None) -> Finding:
        return Finding(day, task_id, external_id, kind, name, was, is_)

    out: list[Finding] = []
    item: dict[str, Any] | None = None
    if sent is not None and sent["item"] is not None:
        item = json.loads(sent["item"])
    state = sent["latest_status"] if sent is not None else "unsent"
    if now is not None and item is None:
        out.append(finding("never_delivered", None, state, _item(now, day, None)))
    elif item is not None and now is None:
        if item.get("account_count"):
            out.append(finding("gone", "account_count", item, None))
    elif item is not None and now is not None:
        with_nodes = isinstance(item.get("nodes"), list)
        current = _item(now, day, nodes if with_nodes else None)
        out += [finding("changed", k, a, b) for k, a, b in differences(item, current)]
    if item is not None and state in ("pending", "dead"):  # a newer version waits
        assert sent is not None
        out.append(finding(state, str(sent["latest_id"])))
    return out


def _item(now: Record, day: date, nodes: list[Record] | None) -> dict[str, Any]:
    split = None if nodes is None else tuple(node_row(n, day) for n in nodes)
    return stats_item(stats_row(now, day, split))


def differences(sent: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, delivered, now) for every field of the payload item that differs; a count
    left out of a payload is 0 by its rules. Nodes are compared node by node."""
    out = _fields(sent, now, "")
    if isinstance(sent.get("nodes"), list):
        was = {n.get("agent_node"): n for n in sent["nodes"] if isinstance(n, dict)}
        is_ = {n["agent_node"]: n for n in now.get("nodes", [])}
        for node in sorted(set(was) | set(is_), key=lambda n: (n is None, n or "")):
            name = node if node is not None else "unassigned"
            empty = node_item(StatsRow(stats_date=date.min, agent_node=node))
            out += _fields(was.get(node, empty), is_.get(node, empty), f"nodes[{name}].")
    return out


def _fields(sent: dict[str, Any], now: dict[str, Any], prefix: str) -> list[tuple[str, Any, Any]]:
    out = []
    keys = [k for k in now if k != "nodes"] + [k for k in sent if k not in now and k != "nodes"]
    for key in keys:
        was, is_ = sent.get(key), now.get(key)
        if key.endswith("_count"):
            was, is_ = was or 0, is_ or 0
        if was != is_:
            out.append((prefix + key, was, is_))
    return out
