"""Time `dailystats report` over a month and `audit` of one day against the day's scan.

    .venv/bin/python bench/bench_settle.py [--tasks 10000] [--days 30] [--completions 1000000]

1. The report: DAYS x TASKS task_daily_stats rows, each with a delivered version (and
   one task-day in ten with a newer pending one), generated inside PostgreSQL. The
   report runs as an operator runs it, `python -m daemon report --format csv`, in a
   child process writing to /dev/null: its wall time and its peak memory (max RSS).
2. The audit: one day of N completions built by bench_scan.py's generator (users spread
   over agent nodes), scanned once (timed), its deliveries marked delivered, then
   audited (timed) in this process: the ratio is audit / scan of the same day.

Prints the machine's load average before and after: several engineers share it.
Uses the local PostgreSQL, else an embedded one, in scratch databases it drops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_scan import DAY, _generate

from daemon.run.pipeline import outbox_writer
from daemon.scan.day import ScanConfig, scan_day
from daemon.settle.audit import audit_range
from daemon.settle.report import copy_report_csv
from daemon.store.db import Db, create_pool
from daemon.store.embedded import embedded_server, find_local_server, with_database
from daemon.store.migrations import apply_migrations
from daemon.webhook.config import DeliveryConfig

FIRST = date(2024, 11, 1)
# The floor of a day's scan: the repository's copy of ../shared/bench/floor.sql (its
# path was one folder off before, so the figure was never printed).
FLOOR = Path(__file__).resolve().parent / "floor.sql"
TASKS = """
INSERT INTO drama_tasks (task_id, title, project_id, external_task_id, duration, callback_url)
SELECT t, CASE WHEN t % 100 = 0 THEN '=SUM(A1) 短剧 ' ELSE '短剧推广任务 ' END || t,
       md5(t::text), 100000 + t, 15, 'https://x2c.example/callback/' || t
FROM generate_series(1, $1::int) t
"""
ROWS = """
INSERT INTO task_daily_stats (task_id, project_id, external_task_id, stats_date,
    total_account_count, total_completion_count, yt_account_count, yt_view_count,
    yt_like_count, yt_comment_count, tt_account_count, tt_view_count, tt_like_count,
    tt_comment_count, dy_account_count, dy_view_count, dy_like_count, dy_comment_count,
    dy_share_count, dy_collect_count, webhook_sent)
SELECT t, md5(t::text), 100000 + t, $2::date + d,
       (t + d) % 40 + 3, (t + d) % 40 + 5, (t + d) % 20, (t * 13 + d) % 90000, (t + d) % 900,
       (t + d) % 70, (t + d) % 15, (t * 7 + d) % 80000, (t + d) % 800, (t + d) % 60,
       (t + d) % 10, (t * 11 + d) % 70000, (t + d) % 700, (t + d) % 50, (t + d) % 30,
       (t + d) % 40, true
FROM generate_series(1, $1::int) t, generate_series(0, $3::int - 1) d
"""
# Each row's delivered version, as the outbox would have written it; a task-day in ten
# then has a newer pending version (the report reads the delivered one's numbers).
DELIVERIES = """
INSERT INTO dailystats_deliveries (task_id, stats_date, url, body, status, attempts,
                                   delivered_at, url_source)
SELECT s.task_id, s.stats_date, 'https://x2c.example/callback/' || s.task_id,
       json_build_object('site_name', 'DramaRelayBot', 'event', 'task.daily_stats',
         'stats', json_build_array(json_build_object(
           'project_id', s.project_id, 'task_id', s.external_task_id, 'duration', 15,
           'stats_date', s.stats_date, 'account_count', s.total_account_count,
           'yt_account_count', s.yt_account_count, 'yt_view_count', s.yt_view_count,
           'yt_like_count', s.yt_like_count, 'yt_comment_count', s.yt_comment_count,
           'tt_account_count', s.tt_account_count, 'tt_view_count', s.tt_view_count,
           'tt_like_count', s.tt_like_count, 'tt_comment_count', s.tt_comment_count,
           'dy_account_count', s.dy_account_count, 'dy_view_count', s.dy_view_count,
           'dy_like_count', s.dy_like_count, 'dy_comment_count', s.dy_comment_count,
           'dy_share_count', s.dy_share_count, 'dy_collect_count', s.dy_collect_count)))::text,
       'delivered', 1 + s.task_id % 3, now(), 'task'
FROM task_daily_stats s;
INSERT INTO dailystats_deliveries (task_id, stats_date, url, body, status, url_source)
SELECT task_id, stats_date, url, body, 'pending', 'task'
FROM dailystats_deliveries WHERE task_id % 10 = 0;
ANALYZE;
"""


@contextlib.asynccontextmanager
async def scratch(admin_url: str, suffix: str):  # type: ignore[no-untyped-def]
    name = f"dailystats_bench_{suffix}_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            schema = resources.files("daemon").joinpath("store/bot_schema.sql")
            await conn.execute(schema.read_text("utf-8"))
            await apply_migrations(conn)
        finally:
            await conn.close()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def bench_report(admin_url: str, tasks: int, days: int) -> dict[str, object]:
    async with scratch(admin_url, "report") as url:
        conn = await asyncpg.connect(url)
        try:
            started = time.perf_counter()
            await conn.execute(TASKS, tasks)
            await conn.execute(ROWS, tasks, FIRST, days)
            await conn.execute(DELIVERIES)
            generated = time.perf_counter() - started
        finally:
            await conn.close()
        last = FIRST + timedelta(days=days - 1)
        times, out = _time_report(url, FIRST, last)
        # The floor, in the same run: the same stored rows copied out as CSV by the
        # server itself (no join, no delivered numbers, no Python per row).
        conn = await asyncpg.connect(url)
        try:
            started = time.perf_counter()
            await conn.copy_from_query(
                "SELECT * FROM task_daily_stats WHERE stats_date BETWEEN $1 AND $2",
                FIRST,
                last,
                output=_discard,
                format="csv",
                header=True,
            )
            floor = time.perf_counter() - started
        finally:
            await conn.close()
        # The same report in this process: the query, the COPY and the line ends passed
        # on, no start-up.
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            started = time.perf_counter()
            await copy_report_csv(Db(pool), FIRST, last, _Null(), default_url=False)
            in_process = time.perf_counter() - started
        finally:
            await pool.close()
    return {
        "rows": tasks * days,
        "generate_s": round(generated, 1),
        "report_csv_s": [round(t, 2) for t in times],
        "report_csv_in_process_s": round(in_process, 2),
        "floor_copy_csv_s": round(floor, 2),
        "ratio_in_process_to_floor": round(in_process / floor, 1),
        "csv_lines": out.count(b"\r\n"),
        "csv_mb": round(len(out) / 1e6, 1),
        "report_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }


async def _discard(data: bytes) -> None:
    pass


class _Null(io.RawIOBase):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        return len(data)


def _time_report(url: str, first: date, last: date) -> tuple[list[float], bytes]:
    """The report as an operator runs it, three times to /dev/null, then once captured."""
    args = ["report", "--from", str(first), "--to", str(last), "--format", "csv"]
    command = [sys.executable, "-m", "daemon", *args]
    env = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "json"}
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - started)
    out = subprocess.run(command, capture_output=True, env=env, check=True).stdout
    return times, out


async def bench_audit(admin_url: str, completions: int, tasks: int) -> dict[str, object]:
    async with scratch(admin_url, "audit") as url:
        conn = await asyncpg.connect(url)
        try:
            await _generate(conn, completions, tasks)
            # Agent nodes: five, in loose spellings, and a fifth of users unassigned.
            await conn.execute(
                "UPDATE users SET agent_node = (ARRAY['north', ' south', 'East', NULL, ''])"
                "[(hashint8(user_id) & 2147483647) % 5 + 1]"
            )
            await conn.execute("ANALYZE users")
        finally:
            await conn.close()
        pool = await create_pool(url, min_size=1, max_size=4)
        db = Db(pool)
        config = ScanConfig.defaults()
        try:
            floor_sql = FLOOR.read_text("utf-8").replace(":'d'", f"'{DAY}'")
            started = time.perf_counter()
            await db.pool.execute(floor_sql)
            floor = time.perf_counter() - started
            scan = await scan_day(
                db,
                DAY,
                config,
                trigger="bench",
                enqueue=outbox_writer(DeliveryConfig(site_name="DramaRelayBot")),
            )
            await db.pool.execute(
                "UPDATE dailystats_deliveries SET status = 'delivered', delivered_at = now()"
            )
            started = time.perf_counter()
            report = await audit_range(db, config, DAY, DAY)
            audit_s = time.perf_counter() - started
            nodes = await db.pool.fetchval("SELECT count(*) FROM dailystats_node_stats")
        finally:
            await pool.close()
    return {
        "completions": completions,
        "scan_s": scan.seconds,
        "scan_phases_s": {
            "classify_day": scan.classify_seconds,
            "fetch": scan.fetch_seconds,
            "aggregate_split_upsert_outbox": scan.write_seconds,
        },
        "node_rows": nodes,
        "audit_s": round(audit_s, 3),
        "audit_findings": len(report.findings),
        "ratio_audit_to_scan": round(audit_s / scan.seconds, 2),
        "floor_sql_s": round(floor, 3),
        "ratio_scan_to_floor": round(scan.seconds / floor, 1),
        "ratio_audit_to_floor": round(audit_s / floor, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--skip-audit", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args()
    result: dict[str, object] = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    admin_url = await find_local_server()
    with contextlib.ExitStack() as stack:
        if admin_url is None:
            admin_url = stack.enter_context(embedded_server())
        if not args.skip_report:
            result["report"] = await bench_report(admin_url, args.tasks, args.days)
        if not args.skip_audit:
            result["audit"] = await bench_audit(admin_url, args.completions, args.tasks)
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
