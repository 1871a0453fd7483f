"""Scans and delivery passes as the commands and the daemon run them, wired from settings.

This is where settings become the plain values the scan, the fetchers and the sender
take: they never read settings themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp

from daemon.fetch import FetchConfig
from daemon.fetch.gate import ProviderGate
from daemon.fetch.plan import TikHubPrices
from daemon.fetch.stops import DbProviderGate
from daemon.scan.day import LiveFetch, ScanConfig, ScanMode, ScanReport, scan_day
from daemon.settings import Settings
from daemon.store.db import Db, Tx
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import enqueue_deliveries
from daemon.webhook.sender import DeliverReport, create_session, deliver_due


def fetch_config(settings: Settings) -> FetchConfig:
    """The providers' settings, always: short links are resolved without any key, and a
    provider without a key is simply off (DISABLED, no call)."""
    youtube_key = settings.youtube_api_key
    tikhub_key = settings.tikhub_api_key
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
        tikhub_batch=settings.tikhub_batch,
        tikhub_prices=TikHubPrices(
            tiktok_single=settings.tikhub_price_tiktok_single,
            tiktok_batch=settings.tikhub_price_tiktok_batch,
            douyin_single=settings.tikhub_price_douyin_single,
            douyin_batch=settings.tikhub_price_douyin_batch,
            douyin_statistics=settings.tikhub_price_douyin_statistics,
        ),
    )


def provider_gate(db: Db, settings: Settings) -> DbProviderGate:
    """Stops and the TikHub budget, shared through the database by every replica."""
    key = settings.tikhub_api_key
    return DbProviderGate(
        db,
        settings.zone,
        tikhub_key=key.get_secret_value() if key else None,
        budget=settings.tikhub_daily_budget_usd,
    )


@asynccontextmanager
async def live_fetch(
    config: FetchConfig | None, gate: ProviderGate | None = None
) -> AsyncIterator[LiveFetch | None]:
    """One HTTP session for a scan's fetches, sized to their concurrency bound."""
    if config is None:
        yield None
        return
    connector = aiohttp.TCPConnector(limit=config.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield LiveFetch(session=session, config=config, gate=gate)


@dataclass(frozen=True, slots=True)
class OutboxWriter:
    """The scan's outbox step. ``key`` names the settings its payloads depend on, so a
    rescan of an unchanged day knows whether its payloads could differ (issue 15)."""

    config: DeliveryConfig

    @property
    def key(self) -> str:
        return repr(self.config)  # the secret is left out of the repr

    async def __call__(self, tx: Tx, stats_date: date, task_ids: list[int] | None) -> int:
        return await enqueue_deliveries(tx, stats_date, self.config, task_ids)


def outbox_writer(config: DeliveryConfig) -> Callable[[Tx, date, list[int] | None], Any]:
    return OutboxWriter(config)


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
        for r in self.reports:  # TikHub cost and provider stops (issue 7)
            if r.tikhub_spend or r.incomplete_providers:
                usd = sum(v["usd"] for v in r.tikhub_spend.values())
                lines.append(
                    f"  tikhub spend ${usd:.3f}"
                    + (
                        f"; {r.videos_stopped} videos not asked, stopped:"
                        f" {', '.join(r.incomplete_providers)} (rescanned when it clears)"
                        if r.incomplete_providers
                        else ""
                    )
                )
        if self.delivery is not None:
            d = self.delivery
            lines.append(
                f"deliveries: {d.delivered} delivered, {d.retrying} to retry, {d.dead} dead"
                # a task URL without its own secret goes unsigned (spec section 6)
                + (f", {d.unsigned} sent unsigned" if d.unsigned else "")
            )
        return "\n".join(lines)


async def scan_and_deliver(
    db: Db,
    settings: Settings,
    days: list[date],
    *,
    trigger: str,
    deliver: bool,
    mode: ScanMode = "full",
    progress: Callable[[int, ScanReport], None] | None = None,
) -> PipelineResult:
    """Scan each day in turn, then (unless ``deliver`` is off) send what is due once.

    Failed deliveries stay queued for the retry loop; they do not fail the command.
    """
    result = PipelineResult()
    scan_config = ScanConfig.from_settings(settings)
    delivery_config = DeliveryConfig.from_settings(settings)
    enqueue = outbox_writer(delivery_config)
    async with live_fetch(fetch_config(settings), provider_gate(db, settings)) as live:
        for done, day in enumerate(days, start=1):
            report = await scan_day(
                db, day, scan_config, trigger=trigger, mode=mode, live=live, enqueue=enqueue
            )
            result.reports.append(report)
            if progress is not None:
                progress(done, report)
    if deliver:
        result.delivery = await deliver_pass(db, settings)
    return result


async def deliver_pass(
    db: Db,
    settings: Settings,
    *,
    force: bool = False,
    stop: asyncio.Event | None = None,
) -> DeliverReport:
    """One pass of the sender; ``stop`` set (shutdown): no new claims, those in hand finish."""
    config = DeliveryConfig.from_settings(settings)
    async with create_session(config) as session:
        return await deliver_due(db, session, config, force=force, stop=stop)
