"""Prometheus metrics of the daemon, served on /metrics by daemon.health."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from daemon.scan import ScanReport
from daemon.webhook.sender import DeliverReport

REGISTRY = CollectorRegistry()

SCANS = Counter(
    "dailystats_scans_total",
    "Scans of one stats date, by how they ended",
    ["status"],
    registry=REGISTRY,
)
SCAN_SECONDS = Histogram(
    "dailystats_scan_duration_seconds",
    "How long a scan of one day took",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "dailystats_last_scan_success_timestamp_seconds",
    "When a scan last succeeded (unix time)",
    registry=REGISTRY,
)
VIDEOS = Counter(
    "dailystats_scan_videos_total",
    "Videos seen by scans: fetched, gone, failed (fetch errors), missing (no stats at all),"
    " stale (counted on their last known stats)",
    ["result"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "dailystats_delivery_attempts_total",
    "Webhook attempts, by result",
    ["result"],
    registry=REGISTRY,
)
PENDING = Gauge(
    "dailystats_deliveries_pending",
    "Deliveries waiting to be sent",
    registry=REGISTRY,
)
DEAD = Gauge(
    "dailystats_deliveries_dead",
    "Deliveries parked as dead, awaiting replay",
    registry=REGISTRY,
)


def record_scan(report: ScanReport, finished_at: float) -> None:
    SCANS.labels(report.status).inc()
    SCAN_SECONDS.observe(report.seconds)
    if report.status == "succeeded":
        LAST_SUCCESS.set(finished_at)
    VIDEOS.labels("fetched").inc(report.videos_fetched)
    VIDEOS.labels("gone").inc(report.videos_gone)
    VIDEOS.labels("failed").inc(report.videos_failed)
    VIDEOS.labels("missing").inc(report.videos_missing)
    VIDEOS.labels("stale").inc(report.videos_stale)


def record_deliveries(report: DeliverReport, pending: int, dead: int) -> None:
    DELIVERIES.labels("delivered").inc(report.delivered)
    DELIVERIES.labels("retrying").inc(report.retrying)
    DELIVERIES.labels("dead").inc(report.dead)
    PENDING.set(pending)
    DEAD.set(dead)
