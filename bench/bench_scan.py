"""Time the scan of one day of N completions against the floor, as issue 15 says.

    .venv/bin/python bench/bench_scan.py [--completions 1000000] [--tasks 10000]

The floor is bench/floor.sql (a copy of ../shared/bench/floor.sql): the execution time
EXPLAIN ANALYZE reports, median of three. A scan's time is the wall time of
`dailystats scan --date D --no-deliver` less that of `dailystats status` (median of
three) on the same database, no provider keys set. In one run: the first scan (nothing
classified), the unchanged rescan, a rescan after 1% of the day's rows changed, and the
warm nightly scan (a day the intraday pass classified as it happened; the pass is
timed too, unchanged and after a 1% change); each rescan, pass and warm nightly scan
the median of three runs (a fresh 1% changed before each rescan; the day's
aggregation undone before each warm nightly scan but the first, the pass's
classification and groups kept), on a settled database (what the first scan
and the pass's first classification wrote vacuumed, analysed and flushed first, as
autovacuum and the checkpointer would within minutes); the peak memory of every scan
process; the classification's size on disk. The data is generated inside PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scan_data import CHANGE_1PCT, DAY, OURS, ROUNDS, UNAGGREGATE, generate, settle

from daemon.run.classifier import classify_pass
from daemon.settings import DEFAULT_COMPLETED_STATUSES
from daemon.store.db import Db, create_pool
from daemon.store.embedded import embedded_server, find_local_server, with_database
from daemon.store.migrations import apply_migrations

FLOOR_SQL = (Path(__file__).resolve().parent / "floor.sql").read_text(encoding="utf-8")


async def _explain_ms(conn: asyncpg.Connection, sql: str) -> float:
    rows = await conn.fetch(sql)
    for r in rows:
        line = r[0]
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    raise RuntimeError("no execution time in EXPLAIN output")


async def _floor(conn: asyncpg.Connection) -> float:
    sql = FLOOR_SQL.replace(":'d'", f"'{DAY.isoformat()}'")
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    times = [await _explain_ms(conn, sql) for _ in range(3)]
    return statistics.median(times) / 1000


async def _id_xmin_read(conn: asyncpg.Connection) -> float:
    """The floor of a rescan: reading the day's (id, xmin) pairs (median of three)."""
    sql = (
        "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT id, xmin FROM user_tasks"
        f" WHERE submitted_at >= '{DAY}' AND submitted_at < '{DAY + timedelta(days=1)}'"
        " AND status = ANY('{submitted,approved,completed,verified}'::text[])"
    )
    return statistics.median([await _explain_ms(conn, sql) for _ in range(3)]) / 1000


def _cli(url: str, *args: str) -> tuple[float, float, dict[str, object] | None]:
    """Run `dailystats ARGS --json`: wall seconds, peak RSS (MB), its JSON report."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(DATABASE_URL=url, LOG_FORMAT="json", LOG_LEVEL="WARNING")
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root
    with tempfile.TemporaryDirectory() as cwd:  # no .env read
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", *args, "--json"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout.read()
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"dailystats {args} failed: {err.decode()[-2000:]}")
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return wall, usage.ru_maxrss / 1024, report


def _median(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run of median time (``s``) of an odd number of runs, with every run's time."""
    ordered = sorted(runs, key=lambda r: float(str(r["s"])))
    return {**ordered[len(ordered) // 2], "runs_s": [r["s"] for r in runs]}


def _scan(url: str, status_s: float) -> dict[str, object]:
    wall, rss, report = _cli(url, "scan", "--date", DAY.isoformat(), "--no-deliver")
    scan = (report or {}).get("scans", [{}])[0] if isinstance(report, dict) else {}
    assert isinstance(scan, dict)
    return {
        "s": round(wall - status_s, 3),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(rss, 1),
        "status": scan.get("status"),
        "unchanged": scan.get("unchanged"),
        "partial": scan.get("partial"),
        "grouped_ahead": scan.get("grouped_ahead"),
        "rows_classified": scan.get("rows_classified"),
        "rows_changed": scan.get("rows_changed"),
        "deliveries_queued": scan.get("deliveries_queued"),
        "phases_s": {
            "classify": scan.get("classify_seconds"),
            "fetch": scan.get("fetch_seconds"),
            "aggregate_upsert_outbox": scan.get("write_seconds"),
        },
    }


async def _pass(url: str) -> dict[str, object]:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        started = time.perf_counter()
        report = await classify_pass(Db(pool), ZoneInfo("UTC"), DEFAULT_COMPLETED_STATUSES, [DAY])
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return {
        "s": round(seconds, 3),
        "rows_looked_at": report.rows_looked_at,
        "longest_lock_s": round(report.longest_lock_seconds, 3),
    }


async def run(completions: int, tasks: int, admin_url: str) -> dict[str, object]:
    name = f"dailystats_bench_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    out: dict[str, object] = {"completions": completions, "tasks": tasks}
    try:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                resources.files("daemon").joinpath("store/bot_schema.sql").read_text("utf-8")
            )
            await apply_migrations(conn)
            started = time.perf_counter()
            await generate(conn, completions, tasks)
            out["generate_s"] = round(time.perf_counter() - started, 1)
            floor = await _floor(conn)
            out["floor_s"] = round(floor, 3)
            out["id_xmin_read_s"] = round(await _id_xmin_read(conn), 3)
            status_s = statistics.median(_cli(url, "status")[0] for _ in range(3))
            out["status_s"] = round(status_s, 3)

            first = _scan(url, status_s)
            size = await conn.fetchrow(
                "SELECT pg_total_relation_size('dailystats_completions') AS rows,"
                " pg_total_relation_size('dailystats_links') AS links,"
                " (SELECT count(*) FROM dailystats_links) AS link_count"
            )
            assert size is not None
            per_million = 1_000_000 / completions / 2**20
            out["disk_mb_per_million"] = {
                "classified_rows": round(size["rows"] * per_million, 1),
                "links": round(size["links"] * per_million, 1),
                "distinct_links": size["link_count"],
            }
            # The rescans are short beside the machine's noise: each is the median of
            # three (a fresh 1% of the rows changed before each 1%-changed one).
            await settle(conn)
            unchanged = _median([_scan(url, status_s) for _ in range(3)])
            changed_runs = []
            for offset in ROUNDS:
                await conn.execute(CHANGE_1PCT, offset)
                changed_runs.append(_scan(url, status_s))
            changed = _median(changed_runs)

            # A day classified as it happened: nothing of ours, then the intraday pass.
            await conn.execute(f"TRUNCATE {OURS}")
            pass_first = await _pass(url)
            await settle(conn)
            pass_unchanged = _median([await _pass(url) for _ in range(3)])
            nightly_runs = []
            for run in range(3):
                if run:
                    await conn.execute(UNAGGREGATE)
                    await settle(conn)
                nightly_runs.append(_scan(url, status_s))
                assert nightly_runs[-1]["grouped_ahead"], nightly_runs[-1]
            nightly = _median(nightly_runs)
            pass_runs, after_pass_runs = [], []
            for offset in ROUNDS:
                await conn.execute(CHANGE_1PCT, offset + 1)
                pass_runs.append(await _pass(url))
                after_pass_runs.append(_scan(url, status_s))
            pass_changed = _median(pass_runs)
            rescan_after_pass = _median(after_pass_runs)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    def ratio(scan: dict[str, object]) -> float:
        seconds = scan["s"]
        assert isinstance(seconds, float)
        return round(seconds / floor, 2)

    for label, scan in (
        ("first_scan", first),
        ("warm_nightly_scan", nightly),
        ("unchanged_rescan", unchanged),
        ("one_percent_changed_rescan", changed),
        ("rescan_after_intraday_pass_of_1pct", rescan_after_pass),
    ):
        out[label] = {"ratio_to_floor": ratio(scan), **scan}
    out["intraday_pass"] = {
        "first_classification": pass_first,
        "unchanged": pass_unchanged,
        "after_1pct_changed": pass_changed,
    }
    scans = (first, *nightly_runs, unchanged, *changed_runs, *after_pass_runs)
    out["peak_rss_mb"] = max(float(str(s["peak_rss_mb"])) for s in scans)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    admin_url = await find_local_server()
    with contextlib.ExitStack() as stack:
        if admin_url is None:
            admin_url = stack.enter_context(embedded_server())
        print(json.dumps({"load_average_before": [round(x, 2) for x in os.getloadavg()]}))
        result = await run(args.completions, args.tasks, admin_url)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
