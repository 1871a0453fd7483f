"""The shipped alert rules and dashboard against a real Prometheus (Debian's package)
scraping a running ``dailystats run``: a healthy run keeps every alert inactive and
feeds the dashboard; a scan made to fail brings its alerts to pending. And every metric
name the rules and the dashboard use is one the daemon's /metrics serves."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiohttp
import asyncpg

from daemon.demo.fake_receiver import WebhookReceiver
from tests.deploy.monitoring import (
    RULES,
    Prometheus,
    dashboard_queries,
    metric_names,
    prometheus_server,
    rules,
)
from tests.run.daemon_logs import Daemon, started
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks

SECRET = "monitoring-secret"
# The nightly time has passed today (00:00 UTC), so yesterday is owed: the look-back
# at start scans it and the day before (CATCHUP_DAYS=2), and nothing is owed after.
DAEMON = {
    "SCAN_CRON": "0 0 * * *",
    "CATCHUP_DAYS": "2",
    "WEBHOOK_ALLOW_PRIVATE": "true",
    "WEBHOOK_RETRY_INTERVAL_SECONDS": "1",
}
# Panels that must show data after a run with a scan and a delivery.
MUST_HAVE_DATA = {
    "Scans by status",
    "Deliveries by state",
    "Delivery attempts by result",
    "Workers alive",
    "Days owed a scan",
    "Last successful scan",
}


async def _seed_yesterday(db_url: str, callback_url: str) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    conn = await asyncpg.connect(db_url)
    try:
        await insert_tasks(conn, [1], callback_url=callback_url, callback_secret=SECRET)
        await insert_completions(
            conn,
            [
                Completion(
                    1,
                    1,
                    1,
                    "submitted",
                    "YouTube",
                    "https://www.youtube.com/watch?v=abcdefghijk",
                    datetime.combine(day, time(12)),
                    {"view_count": 10, "like_count": 2, "comment_count": 1},
                )
            ],
        )
    finally:
        await conn.close()


async def _stop(proc: Daemon) -> None:
    proc.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.process.wait(), 30) == 0


async def _alert_states(server: Prometheus) -> dict[str, str]:
    return {r["name"]: r["state"] for r in await server.rule_states() if r["type"] == "alerting"}


async def _evaluated_after(server: Prometheus, moment: datetime) -> bool:
    """Every rule evaluated at least once since ``moment`` (server time, UTC)."""
    for rule in await server.rule_states():
        stamp = re.sub(r"(\.\d{6})\d*", r"\1", rule["lastEvaluation"]).replace("Z", "+00:00")
        if datetime.fromisoformat(stamp) <= moment:
            return False
    return True


@asynccontextmanager
async def _scraped(tmp_path: Path, port: int, within: float = 60) -> AsyncIterator[Prometheus]:
    """Prometheus with the shipped rules scraping the daemon on ``port``, once it has."""
    async with prometheus_server(tmp_path, [f"127.0.0.1:{port}"], [RULES]) as server:

        async def scraped() -> bool:
            return bool(await server.query('up{job="dailystats"} == 1'))

        await server.until(scraped, within, "the daemon scraped")
        yield server


async def test_a_healthy_run_keeps_every_alert_inactive_and_feeds_the_dashboard(
    db_url: str, tmp_path: Path
) -> None:
    async with WebhookReceiver(secret=SECRET) as rx:
        await _seed_yesterday(db_url, rx.url("/hook"))
        async with started(db_url, **DAEMON) as (proc, port):
            await proc.wait_for("scan.finished", times=2, within=60, status="succeeded")
            await proc.wait_for("delivery.sent", within=60)
            async with _scraped(tmp_path, port) as server:
                # Scraped and evaluated for a few rounds after the run, with every series
                # an alert reads present: no alert pending or firing, no rule failing.
                since = datetime.now(UTC) + timedelta(seconds=3)

                async def settled() -> bool:
                    return await _evaluated_after(server, since)

                await server.until(settled, 60, "three evaluations after the run")
                states = await server.rule_states()
                assert [r["name"] for r in states if r["health"] != "ok"] == [], states
                alert_states = await _alert_states(server)
                assert set(alert_states) == {r["alert"] for r in rules() if "alert" in r}
                assert {n: s for n, s in alert_states.items() if s != "inactive"} == {}
                assert (await server.api("alerts"))["alerts"] == []

                # Every dashboard query runs; those of scans, deliveries and workers
                # return data.
                empty = []
                for title, expr in dashboard_queries():
                    if not await server.query(expr) and title in MUST_HAVE_DATA:
                        empty.append((title, expr))
                assert empty == []
            await _stop(proc)


async def test_a_failing_scan_brings_its_alerts_to_pending(db_url: str, tmp_path: Path) -> None:
    # Another session holds task_daily_stats: every scan's upsert hits the lock timeout
    # and fails, and the day is retried; the metrics read other tables and still answer.
    holder = await asyncpg.connect(db_url)
    blocking = holder.transaction()
    await blocking.start()
    try:
        await holder.execute("LOCK TABLE task_daily_stats IN ACCESS EXCLUSIVE MODE")
        async with started(
            db_url,
            **DAEMON | {"CATCHUP_DAYS": "1"},
            DATABASE_LOCK_TIMEOUT_SECONDS="0.5",
            SCAN_RETRY_BASE_SECONDS="0.5",
            SCAN_RETRY_MAX_SECONDS="2",
        ) as (proc, port):
            await proc.wait_for("service.scan_retry_scheduled", within=60)
            async with _scraped(tmp_path, port) as server:

                async def failing_alerts() -> bool:
                    states = await _alert_states(server)
                    return all(
                        states.get(name) in {"pending", "firing"}
                        for name in ("DailystatsScansFailing", "DailystatsDayNotScanned")
                    )

                await server.until(failing_alerts, 60, "the failing-scan alerts pending")
                states = await _alert_states(server)
                assert states["DailystatsDeadDeliveries"] == "inactive"
                assert states["DailystatsWorkersNotAlive"] == "inactive"
                pending = await server.api("alerts")
                labels = [a["labels"] for a in pending["alerts"]]
                failing = [x for x in labels if x["alertname"] == "DailystatsScansFailing"]
                assert len(failing) == 1 and "instance" not in failing[0]

                # The lock goes: the retry succeeds, and the alerts go back to inactive.
                await blocking.rollback()

                async def recovered() -> bool:
                    states = await _alert_states(server)
                    return all(
                        states[name] == "inactive"
                        for name in ("DailystatsScansFailing", "DailystatsDayNotScanned")
                    )

                await server.until(recovered, 60, "the alerts inactive after the retry")
            await _stop(proc)
    finally:
        await holder.close()  # ends the transaction and its lock, if still held


async def test_every_metric_the_rules_and_the_dashboard_read_is_served(db_url: str) -> None:
    async with started(db_url) as (proc, port):
        await proc.wait_for("service.ready")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            text = await response.text()
        await _stop(proc)
    served = set(re.findall(r"^# HELP (\S+)", text, flags=re.MULTILINE))
    served |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, flags=re.MULTILINE))
    used: set[str] = set()
    for rule in rules():
        used |= metric_names(rule["expr"])
    for _, expr in dashboard_queries():
        used |= metric_names(expr)
    used -= {"up", "ALERTS", "ALERTS_FOR_STATE"}
    assert len(used) >= 20
    assert used - served == set()
