"""/healthz and /metrics on HEALTH_PORT, for systemd watchers, Docker and Prometheus.

/healthz fails (503) in the cases the systemd watchdog stops being pinged: a worker
that died (``problem`` says which), an event loop that is blocked (then nothing here
answers at all, and the caller's timeout is the failure), and also a database that
cannot be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from daemon.run.metrics import REGISTRY
from daemon.store.db import Db

log = structlog.get_logger("daemon.run.health")

Problem = Callable[[], str | None]
# Reads the gauges that describe the database before a scrape is answered.
Refresh = Callable[[], Awaitable[None]]
# A scrape still answers, with the gauges as last read, when the database is slow.
REFRESH_TIMEOUT_SECONDS = 5.0


def health_app(
    db: Db, problem: Problem | None = None, refresh: Refresh | None = None
) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        trouble = problem() if problem is not None else None
        if trouble is not None:
            return web.json_response({"ok": False, "daemon": trouble}, status=503)
        try:
            await asyncio.wait_for(db.fetchval("db_now"), timeout=5)
        except Exception as exc:  # any failure to reach the database is "unhealthy"
            return web.json_response({"ok": False, "database": str(exc)}, status=503)
        return web.json_response({"ok": True})

    async def metrics(request: web.Request) -> web.Response:
        if refresh is not None:
            try:
                await asyncio.wait_for(refresh(), timeout=REFRESH_TIMEOUT_SECONDS)
            except Exception as exc:  # /healthz says the database is away; serve what we have
                log.warning("metrics.refresh_failed", error=str(exc) or type(exc).__name__)
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_health_server(
    db: Db,
    port: int,
    host: str = "0.0.0.0",
    problem: Problem | None = None,
    refresh: Refresh | None = None,
) -> web.AppRunner:
    runner = web.AppRunner(health_app(db, problem, refresh), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
