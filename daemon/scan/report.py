"""What one scan of one day found and did: the run's record, its log line and its report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

# What a scan may refresh (spec section 7, "What a rescan may refresh").
ScanMode = Literal["full", "settle", "incomplete"]


@dataclass(slots=True)
class ScanReport:
    run_id: int
    stats_date: date
    trigger: str
    mode: ScanMode = "full"
    status: str = "running"
    task_count: int = 0
    completion_count: int = 0
    video_count: int = 0
    videos_missing: int = 0
    # Counted on their last known stats: stale, partial, or of a video since gone.
    videos_stale: int = 0
    videos_fetched: int = 0
    videos_gone: int = 0
    videos_failed: int = 0
    # Not asked because a provider was stopped or over budget (issue 7).
    videos_stopped: int = 0
    incomplete_providers: list[str] = field(default_factory=list)
    # TikHub calls answered 200 and their estimated USD, per endpoint.
    tikhub_spend: dict[str, dict[str, Any]] = field(default_factory=dict)
    short_links_resolved: int = 0
    rows_changed: int = 0
    # Completions classified again because their rows changed (issue 15), and whether
    # nothing the day's numbers depend on had changed (no aggregation, nothing written).
    rows_classified: int = 0
    unchanged: bool = False
    # Only the tasks the changed rows touch were aggregated again (daemon.scan.scope).
    partial: bool = False
    # The whole day's rows were grouped ahead by the intraday pass (daemon.scan.groups).
    grouped_ahead: bool = False
    deliveries_queued: int = 0
    # Where the time went: classifying the day, asking the APIs, writing rows and outbox.
    classify_seconds: float = 0.0
    fetch_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stats_date"] = self.stats_date.isoformat()
        return out

    def summary(self) -> dict[str, Any]:
        """The report without what the log line is already bound to."""
        out = self.as_dict()
        for key in ("run_id", "stats_date", "trigger"):
            out.pop(key)
        return out
