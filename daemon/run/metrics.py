"""Prometheus metrics of the daemon, served on /metrics by daemon.run.health.

The counters of this process live here; the gauges read from the database (the
ones the alert rules in deploy/prometheus page on) in daemon.run.dbmetrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from daemon.scan.day import ScanReport
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
    " stopped (not asked: provider stopped or over budget),"
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


# TikHub cost (issue 7): calls answered 200 (the billed ones) and their estimated USD.
TIKHUB_CALLS = Counter(
    "dailystats_tikhub_calls_total",
    "TikHub calls answered 200 (billed), by endpoint",
    ["endpoint"],
    registry=REGISTRY,
)
TIKHUB_SPEND = Counter(
    "dailystats_tikhub_spend_usd_total",
    "Estimated TikHub spend in USD, by endpoint",
    ["endpoint"],
    registry=REGISTRY,
)
INCOMPLETE = Counter(
    "dailystats_scan_incomplete_total",
    "Scans left incomplete by a provider stop or the TikHub budget, by provider",
    ["provider"],
    registry=REGISTRY,
)

UNSIGNED = Counter(
    "dailystats_deliveries_unsigned_total",
    "Attempts sent to a task's own URL without a signature (the task has no secret)",
    registry=REGISTRY,
)

# --- lifecycle (issue 8)
AWAITING_RETRY = Gauge(
    "dailystats_days_awaiting_retry",
    "Days whose last scan failed or crashed, waiting for their retry",
    registry=REGISTRY,
)
LOOKBACK = Counter(
    "dailystats_lookback_days_total",
    "Days the look-back found owed a scan: missed (no successful scan) or incomplete",
    ["reason"],
    registry=REGISTRY,
)
PRUNED = Counter(
    "dailystats_pruned_rows_total",
    "Rows deleted by retention, by kind",
    ["kind"],
    registry=REGISTRY,
)
WORKERS_ALIVE = Gauge(
    "dailystats_workers_alive",
    "1 while the event loop runs and both workers (scan loop, retry loop) are alive",
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
    VIDEOS.labels("stopped").inc(report.videos_stopped)
    for endpoint, spend in report.tikhub_spend.items():
        TIKHUB_CALLS.labels(endpoint).inc(spend["calls"])
        TIKHUB_SPEND.labels(endpoint).inc(spend["usd"])
    for provider in report.incomplete_providers:
        INCOMPLETE.labels(provider).inc()
    VIDEOS.labels("stale").inc(report.videos_stale)


def record_crash() -> None:
    """A scan that ended in an exception rather than a report."""
    SCANS.labels("crashed").inc()


def record_deliveries(report: DeliverReport) -> None:
    DELIVERIES.labels("delivered").inc(report.delivered)
    DELIVERIES.labels("retrying").inc(report.retrying)
    DELIVERIES.labels("dead").inc(report.dead)
    UNSIGNED.inc(report.unsigned)
