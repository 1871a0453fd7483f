"""The X2C v2 daily-summary body (spec section 6): which fields, in which order, as which bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

EVENT = "task.daily_stats"

# Per platform, the optional fields after "{p}_account_count", in the spec example's order.
_PLATFORM_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("yt", ("view", "like", "comment")),
    ("tt", ("view", "like", "comment")),
    ("dy", ("view", "like", "comment", "share", "collect")),
)


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One task_daily_stats row as X2C sees it; the drama_tasks values are the reported ids."""

    stats_date: date
    project_id: str | None = None
    external_task_id: int | None = None
    duration: int | None = None
    total_account_count: int = 0
    total_completion_count: int = 0
    yt_account_count: int = 0
    yt_view_count: int = 0
    yt_like_count: int = 0
    yt_comment_count: int = 0
    tt_account_count: int = 0
    tt_view_count: int = 0
    tt_like_count: int = 0
    tt_comment_count: int = 0
    dy_account_count: int = 0
    dy_view_count: int = 0
    dy_like_count: int = 0
    dy_comment_count: int = 0
    dy_share_count: int = 0
    dy_collect_count: int = 0
    # WEBHOOK_INCLUDE_NODES (spec section 9): the task's split by agent node, sent as
    # "nodes"; None: not sent. Each is a StatsRow of counts with its agent_node set.
    nodes: tuple[StatsRow, ...] | None = None
    agent_node: str | None = None  # on a node: None is unassigned


def node_order(node: str | None) -> tuple[bool, str]:
    """By node (code points, whatever the database's collation), unassigned last."""
    return (not node, node or "")


def stats_item(row: StatsRow) -> dict[str, Any]:
    """One element of "stats"; dicts keep insertion order, so the key order is the spec's."""
    item: dict[str, Any] = {}
    if row.project_id is not None:
        item["project_id"] = row.project_id
    if row.external_task_id is not None:
        # X2C's own id: the bot's task_id means nothing to them.
        item["task_id"] = row.external_task_id
    if row.duration is not None:
        item["duration"] = row.duration
    item["stats_date"] = row.stats_date.isoformat()
    _counts(row, item)
    if row.nodes is not None:
        item["nodes"] = [
            node_item(n) for n in sorted(row.nodes, key=lambda n: node_order(n.agent_node))
        ]
    return item


def node_item(node: StatsRow) -> dict[str, Any]:
    """One element of an item's "nodes": the item's own field rules."""
    item: dict[str, Any] = {"agent_node": node.agent_node or None}
    _counts(node, item)
    return item


def _counts(row: StatsRow, item: dict[str, Any]) -> None:
    item["account_count"] = row.total_account_count
    for platform, fields in _PLATFORM_FIELDS:
        accounts: int = getattr(row, f"{platform}_account_count")
        # Every completion has a user, so "had a completion" is "has an account".
        if accounts <= 0:
            continue
        item[f"{platform}_account_count"] = accounts
        for field in fields:
            value: int = getattr(row, f"{platform}_{field}_count")
            if value > 0:
                item[f"{platform}_{field}_count"] = value


def build_payload(row: StatsRow, site_name: str) -> dict[str, Any]:
    """The whole body for one task and day: one element in "stats", as X2C v2 expects."""
    return {"site_name": site_name, "event": EVENT, "stats": [stats_item(row)]}


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes stored, signed and sent: compact, UTF-8 (Chinese stays readable).

    Deterministic for a given payload (dict order is fixed by ``stats_item``), so an
    unchanged re-scan yields identical bytes and is recognised as unchanged.
    """
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
