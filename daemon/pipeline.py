"""Scans and delivery passes as the commands and the daemon run them, wired from settings.

This is where settings become the plain values the scan, the fetchers and the sender
take: they never read settings themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp

from daemon.db import Db, Tx
from daemon.fetch import FetchConfig
from daemon.scan import LiveFetch, ScanConfig, ScanReport, scan_day
from daemon.settings import Settings
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import enqueue_deliveries
from daemon.webhook.sender import DeliverReport, create_session, deliver_due


def fetch_config(settings: Settings) -> FetchConfig | None:
    """The providers' settings, or None when no provider has a key (nothing to fetch)."""
    youtube_key = settings.youtube_api_key
    tikhub_key = settings.tikhub_api_key
    if youtube_key is None and tikhub_key is None:
        return None
    return FetchConfig(
        youtube_api_url=settings.youtube_api_url,
        youtube_api_key=youtube_key.get_secret_value() if youtube_key else None,
        tikhub_api_url=settings.tikhub_api_url,
        tikhub_api_key=tikhub_key.get_secret_value() if tikhub_key else None,
        concurrency=settings.fetch_concurrency,
        tikhub_rate_per_second=settings.tikhub_rate_per_second,
        youtube_rate_per_second=settings.youtube_rate_per_second,
        timeout_seconds=settings.fetch_timeout_seconds,
        max_retries=settings.fetch_max_retries,
    )


@asynccontextmanager
async def live_fetch(config: FetchConfig | None) -> AsyncIterator[LiveFetch | None]:
    """One HTTP session for a scan's fetches, sized to their concurrency bound."""
    if config is None:
        yield None
        return
    connector = aiohttp.TCPConnector(limit=config.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield LiveFetch(session=session, config=config)


def outbox_writer(config: DeliveryConfig) -> Callable[[Tx, date], Any]:
    async def enqueue(tx: Tx, stats_date: date) -> int:
        return await enqueue_deliveries(tx, stats_date, config)

    return enqueue


@dataclass(slots=True)
class PipelineResult:
    reports: list[ScanReport] = field(default_factory=list)
    delivery: DeliverReport | None = None

    @property
    def ok(self) -> bool:
        return all(r.status == "succeeded" for r in self.reports)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scans": [r.as_dict() for r in self.reports],
            "delivery": self.delivery.as_dict() if self.delivery else None,
            "ok": self.ok,
        }

    def text(self) -> str:
        lines = [
            f"{r.stats_date} {r.status}: {r.task_count} tasks, {r.completion_count} completions,"
            f" {r.video_count} videos ({r.videos_missing} without stats,"
            f" {r.videos_stale} on last known stats,"
            f" {r.videos_fetched} fetched), {r.rows_changed} rows changed,"
            f" {r.deliveries_queued} deliveries queued" + (f" — {r.error}" if r.error else "")
            for r in self.reports
        ]
        if self.delivery is not None:
            d = self.delivery
            lines.append(
                f"deliveries: {d.delivered} delivered, {d.retrying} to retry, {d.dead} dead"
            )
        return "\n".join(lines)


async def scan_and_deliver(
    db: Db,
    settings: Settings,
    days: list[date],
    *,
    trigger: str,
    deliver: bool,
    progress: Callable[[int, ScanReport], None] | None = None,
) -> PipelineResult:
    """Scan each day in turn, then (unless ``deliver`` is off) send what is due once.

    Failed deliveries stay queued for the retry loop; they do not fail the command.
    """
    result = PipelineResult()
    scan_config = ScanConfig.from_settings(settings)
    delivery_config = DeliveryConfig.from_settings(settings)
    enqueue = outbox_writer(delivery_config)
    async with live_fetch(fetch_config(settings)) as live:
        for done, day in enumerate(days, start=1):
            report = await scan_day(
                db, day, scan_config, trigger=trigger, live=live, enqueue=enqueue
            )
            result.reports.append(report)
            if progress is not None:
                progress(done, report)
    if deliver:
        result.delivery = await deliver_pass(db, settings)
    return result


async def deliver_pass(db: Db, settings: Settings, *, force: bool = False) -> DeliverReport:
    config = DeliveryConfig.from_settings(settings)
    async with create_session(config) as session:
        return await deliver_due(db, session, config, force=force)
