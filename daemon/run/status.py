"""``dailystats status``: recent scan runs, deliveries by state, provider stops and
TikHub spend, gathered once; rendered for a person as an aligned table and sentences,
and as the same facts for ``--json``."""

from __future__ import annotations

from typing import Any

from daemon.fetch.report import provider_status
from daemon.settings import Settings
from daemon.store.db import Db
from daemon.webhook.outbox import delivery_summary

RUN_COLUMNS = (
    ("run", "id"),
    ("stats date", "stats_date"),
    ("trigger", "trigger"),
    ("status", "status"),
    ("tasks", "task_count"),
    ("completions", "completion_count"),
    ("missing", "videos_missing"),
    ("stale", "videos_stale"),
    ("queued", "deliveries_queued"),
)


async def status_report(db: Db, settings: Settings) -> tuple[str, dict[str, Any]]:
    runs: list[dict[str, Any]] = [dict(r) for r in await db.fetch("recent_runs", 10)]
    deliveries = await delivery_summary(db)
    providers = await provider_status(db, settings, runs)
    lines = ["Recent scans (missing: videos without stats; stale: on last known stats):"]
    lines += run_table(runs) if runs else ["  none yet"]
    lines += delivery_lines(deliveries)
    lines += providers.pop("lines")
    return "\n".join(lines), {"runs": runs, "deliveries": deliveries, **providers}


def run_table(runs: list[dict[str, Any]]) -> list[str]:
    header = [title for title, _ in RUN_COLUMNS]
    rows = [[f"#{r['id']}", *(str(r[key]) for _, key in RUN_COLUMNS[1:])] for r in runs]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {
        i
        for i, (_, key) in enumerate(RUN_COLUMNS)
        if key.endswith(("count", "missing", "stale", "queued"))
    }

    def line(cells: list[str]) -> str:
        return (
            "  "
            + "  ".join(
                c.rjust(widths[i]) if i in numeric else c.ljust(widths[i])
                for i, c in enumerate(cells)
            ).rstrip()
        )

    out = [line(header)]
    for run, row in zip(runs, rows, strict=True):
        out.append(line(row))
        if run["error"]:
            out.append(f"      error: {run['error']}")
    return out


def delivery_lines(summary: dict[str, Any]) -> list[str]:
    counts = summary["counts"]
    lines = [
        f"Deliveries: {counts['pending']} pending ({summary['due']} due now),"
        f" {counts['delivered']} delivered, {counts['dead']} dead,"
        f" {counts['superseded']} superseded by a newer version."
    ]
    oldest = summary["oldest_pending"]
    if oldest is not None:
        lines.append(
            f"  Oldest pending: {oldest['id']} (task {oldest['task_id']},"
            f" {oldest['stats_date']}), {oldest['attempts']} attempt(s), next at"
            f" {oldest['next_attempt_at']}"
            + (f"; last error: {oldest['last_error']}" if oldest["last_error"] else "")
            + "."
        )
    if counts["dead"]:
        lines.append("  Dead deliveries go back in the queue with `dailystats replay --dead`.")
    return lines
