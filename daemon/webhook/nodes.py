"""The split by agent node as the payload carries it (WEBHOOK_INCLUDE_NODES, spec section 9)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from typing import Any

from daemon.rules.counts import COUNT_FIELDS
from daemon.store.db import Tx
from daemon.webhook.payload import StatsRow


def counted_row(record: Any, stats_date: date, **fields: Any) -> StatsRow:
    """A StatsRow with the counts of ``record`` (any row with the columns of section 3)."""
    counts: dict[str, Any] = {name: int(record[name] or 0) for name in COUNT_FIELDS}
    return replace(StatsRow(stats_date=stats_date, **fields), **counts)


def node_row(record: Any, stats_date: date) -> StatsRow:
    """A dailystats_node_stats row (or the audit's recomputed one) as a payload's node."""
    return counted_row(record, stats_date, agent_node=record["agent_node"] or None)


async def day_nodes(tx: Tx, stats_date: date) -> dict[int, tuple[StatsRow, ...]]:
    """Each task's stored split on ``stats_date`` (a task without completions: none)."""
    by_task: dict[int, list[StatsRow]] = defaultdict(list)
    for record in await tx.fetch("deliveries_day_nodes", stats_date):
        by_task[record["task_id"]].append(node_row(record, stats_date))
    return {task_id: tuple(rows) for task_id, rows in by_task.items()}
