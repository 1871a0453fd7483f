"""The split by agent node as the payload carries it (WEBHOOK_INCLUDE_NODES, spec section 9)."""

from __future__ import annotations

from datetime import date
from typing import Any

from daemon.rules.counts import COUNT_FIELDS
from daemon.webhook.payload import StatsRow


def counted_row(record: Any, stats_date: date, **fields: Any) -> StatsRow:
    """A StatsRow with the counts of ``record`` (any row with the columns of section 3)."""
    counts: dict[str, Any] = {name: int(record[name] or 0) for name in COUNT_FIELDS}
    return StatsRow(stats_date=stats_date, **fields, **counts)  # built once, not replaced


def node_row(record: Any, stats_date: date) -> StatsRow:
    """A dailystats_node_stats row (or the audit's recomputed one) as a payload's node."""
    return counted_row(record, stats_date, agent_node=record["agent_node"] or None)
