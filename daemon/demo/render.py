"""The demo's report for a person: what happened, in sentences and aligned tables whose
counts add up. ``dailystats demo --json`` prints the same result as data."""

from __future__ import annotations

import json
from typing import Any

SOURCE_WORDS = {
    "live": "fetched now",
    "cache": "from the stats cache",
    "saved": "from the bot's saved details",
    "last_known": "on last known stats (deleted or unreachable)",
    "missing": "without stats",
}
API_NAMES = {
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "douyin": "Douyin details",
    "douyin_statistics": "Douyin statistics",
}


def describe(result: dict[str, Any]) -> str:
    first, again = result["first_scan"], result["second_scan"]
    sources = result["first_scan_videos_by_source"]
    order = list(SOURCE_WORDS)
    by_source = ", ".join(
        f"{sources[s]} {SOURCE_WORDS.get(s, s)}"
        for s in sorted(sources, key=lambda s: order.index(s) if s in order else len(order))
    )
    calls = ", ".join(f"{API_NAMES.get(k, k)} {n}" for k, n in result["api_calls"].items() if n)
    spend = first["tikhub_spend"]
    lines = [
        f"dailystats demo: the stats date {result['stats_date']} on a scratch database"
        f" ({len(result['migrations'])} migrations applied).",
        "",
        f"First scan: {first['task_count']} tasks, {first['completion_count']} completions,"
        f" {first['video_count']} videos: {by_source}"
        + (f" ({first['videos_gone']} deleted on its platform)." if first["videos_gone"] else "."),
        f"  {first['short_links_resolved']} short link(s) resolved; API calls: {calls or 'none'}.",
        "  TikHub spend (calls answered 200): "
        + (", ".join(f"{e} {v['calls']} for ${v['usd']:.3f}" for e, v in spend.items()) or "none")
        + ".",
        f"  {first['deliveries_queued']} deliveries queued,"
        f" {result['first_delivery']['delivered']} delivered to the fake X2C:",
    ]
    for hook in result["webhooks"]:
        ok = (
            "both signatures ok" if hook["signature_ok"] and hook["standard_webhooks_ok"] else "BAD"
        )
        lines.append(f"    {hook['delivery_id']} ({ok}):")
        lines.append(f"      {json.dumps(hook['body'], ensure_ascii=False)}")
    lines += ["", *task_table(result), "", *node_table(result)]
    lines += [
        "",
        f"Second scan of the same day: {again['rows_changed']} rows changed,"
        f" {again['deliveries_queued']} deliveries queued,"
        f" {result['second_delivery']['attempted']} sent (nothing is sent twice).",
        "Result: " + ("OK" if result["ok"] else "FAILED"),
    ]
    return "\n".join(lines)


def task_table(result: dict[str, Any]) -> list[str]:
    """task_daily_stats, one row a task; our task id beside X2C's (the payload's task_id)."""
    tasks = {int(k): v for k, v in result["tasks"].items()}
    header = [
        "task",
        "X2C task_id",
        "accounts",
        "completions",
        "yt views",
        "tt views",
        "dy views",
        "sent to X2C",
    ]
    rows = []
    for row in result["task_daily_stats"]:
        task = tasks.get(row["task_id"], {})
        x2c = task.get("x2c_task_id")
        if row["webhook_sent"]:
            sent = "yes"
        elif not task.get("callback_url"):
            sent = "no: no callback URL (and no WEBHOOK_DEFAULT_URL)"
        else:
            sent = "not yet"
        rows.append(
            [
                str(row["task_id"]),
                str(x2c) if x2c is not None else "-",
                str(row["total_account_count"]),
                str(row["total_completion_count"]),
                str(row["yt_view_count"]),
                str(row["tt_view_count"]),
                str(row["dy_view_count"]),
                sent,
            ]
        )
    title = "task_daily_stats ('task' is drama_tasks.task_id; payloads carry X2C's task_id):"
    return [title, *_aligned(header, rows, left=(0, 7))]


def node_table(result: dict[str, Any]) -> list[str]:
    """dailystats_node_stats: each task's numbers split by its users' agent nodes."""
    header = ["task", "agent node", "accounts", "completions", "yt views", "tt views", "dy views"]
    rows = [
        [
            str(row["task_id"]),
            row["agent_node"] or "(unassigned)",
            str(row["total_account_count"]),
            str(row["total_completion_count"]),
            str(row["yt_view_count"]),
            str(row["tt_view_count"]),
            str(row["dy_view_count"]),
        ]
        for row in result["node_stats"]
    ]
    title = "split by agent node (a video counts for the node of its first poster in the task):"
    return [title, *_aligned(header, rows, left=(0, 1))]


def _aligned(header: list[str], rows: list[list[str]], left: tuple[int, ...]) -> list[str]:
    """A table: text columns (``left``) to the left, numbers to the right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  "
        + "  ".join(
            c.ljust(widths[i]) if i in left else c.rjust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()
        for cells in [header, *rows]
    ]
