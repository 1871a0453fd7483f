"""The shipped monitoring files (deploy/prometheus, deploy/grafana) read for the tests,
and a real Prometheus server (Debian's `prometheus` package) started on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.run.daemon_logs import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "dailystats.rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "dailystats.rules.test.yml"
SCRAPE_EXAMPLE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dailystats.json"
README = ROOT / "README.md"

# Metrics Prometheus makes itself, not the daemon.
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
# Grafana's variables in dashboard queries, as Grafana would fill them in.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}

NO_PACKAGE = "Debian's `prometheus` package is not installed (apt-get install prometheus)"


def binary(name: str) -> str:
    """The path of ``promtool`` or ``prometheus``; skips the test, saying why, without it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"no {name}: {NO_PACKAGE}")
    return path


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return groups


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query) of every panel target, Grafana's variables filled in."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            out.append((panel["title"], expr))
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (recording rules' `a:b:c` names and
    label values in quotes aside)."""
    unquoted = re.sub(r'"[^"]*"', '""', expr)
    names = set(re.findall(r"(?<![\w:])[a-zA-Z_][a-zA-Z0-9_]*(?=\s*[{\[)\s]|$)", unquoted))
    return {n for n in names if n.startswith("dailystats_") or n in PROMETHEUS_OWN}


class Prometheus:
    """A running server and its HTTP API."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http

    async def api(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.base}/api/v1/{path}", params=params) as response:
            body = await response.json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def rule_states(self) -> list[dict[str, Any]]:
        """Every rule the server evaluates, with its state, health and last evaluation."""
        groups = (await self.api("rules"))["groups"]
        return [rule for group in groups for rule in group["rules"]]

    async def until(self, check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
        """Polls ``check`` (the server's API) until it holds; fails after ``within`` s."""
        deadline = time.monotonic() + within
        while not await check():
            if time.monotonic() > deadline:
                pytest.fail(f"Prometheus: not within {within:.0f} s: {what}")
            await asyncio.sleep(0.25)  # the server tells no one: poll its API


@asynccontextmanager
async def prometheus_server(
    workdir: Path, targets: list[str], rule_files: list[Path], interval: str = "1s"
) -> AsyncIterator[Prometheus]:
    """Prometheus on a free loopback port with its own config and data dir, scraping
    ``targets`` as job ``dailystats`` and evaluating ``rule_files`` every ``interval``;
    stopped (SIGTERM, then killed) on the way out."""
    exe = binary("prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {
                    "scrape_interval": interval,
                    "scrape_timeout": interval,
                    "evaluation_interval": interval,
                    "external_labels": {"runbook_base": "https://runbooks.test"},
                },
                "rule_files": [str(p) for p in rule_files],
                "scrape_configs": [
                    {"job_name": "dailystats", "static_configs": [{"targets": targets}]}
                ],
            }
        ),
        encoding="utf-8",
    )
    log = (workdir / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        exe,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            server = Prometheus(base, http)

            async def ready() -> bool:
                if process.returncode is not None:
                    pytest.fail(f"prometheus exited: {(workdir / 'prometheus.log').read_text()}")
                try:
                    async with http.get(f"{base}/-/ready") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await server.until(ready, 60, "ready")
            yield server
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
