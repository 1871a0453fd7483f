"""The command line as an operator runs it: a real process against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime

import asyncpg

from tests.scan.scan_reference import Completion, insert_completions, insert_tasks


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEBHOOK_"))}
    base.update({"LOG_FORMAT": "json", "YOUTUBE_API_KEY": "", "TIKHUB_API_KEY": ""})
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=120,
        check=False,
    )


def test_a_bad_setting_exits_2_with_one_line_naming_it(db_url: str) -> None:
    result = run_cli("status", env={"DATABASE_URL": db_url, "STATS_TIMEZONE": "Nowhere/City"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dailystats: bad setting STATS_TIMEZONE: unknown time zone 'Nowhere/City'"
    ]


def test_missing_database_url_is_named() -> None:
    result = run_cli("status")
    assert result.returncode == 2
    assert "DATABASE_URL: is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line() -> None:
    result = run_cli("status", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dailystats: cannot connect to DATABASE_URL")


def test_unmigrated_database_says_to_migrate(empty_db_url: str) -> None:
    result = run_cli("status", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1
    assert "run `dailystats migrate`" in result.stderr


def test_migrate_on_a_database_without_the_bot_tables_says_so(empty_db_url: str) -> None:
    result = run_cli("migrate", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1
    assert "no bot tables" in result.stderr and "Traceback" not in result.stderr


def test_migrate_is_idempotent(db_url: str) -> None:
    result = run_cli("migrate", "--json", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"applied": []}


async def test_scan_then_status_report_in_json(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await insert_tasks(conn, [1])
        at = datetime(2024, 12, 9, 10)
        await insert_completions(
            conn,
            [
                Completion(
                    1,
                    1,
                    7,
                    "submitted",
                    "YouTube",
                    "https://youtu.be/dQw4w9WgXcQ",
                    at,
                    {"view_count": "1200", "like_count": 80},
                ),
                Completion(
                    2,
                    1,
                    8,
                    "approved",
                    "抖音",
                    "https://www.douyin.com/video/1",
                    at,
                    {"view_count": 8000, "share_count": 28},
                ),
            ],
        )
    finally:
        await conn.close()
    env = {"DATABASE_URL": db_url}
    scan = run_cli("scan", "--date", "2024-12-09", "--no-deliver", "--json", env=env)
    assert scan.returncode == 0, scan.stderr
    report = json.loads(scan.stdout)
    (day,) = report["scans"]
    assert (day["stats_date"], day["status"], day["task_count"]) == ("2024-12-09", "succeeded", 1)
    assert report["delivery"] is None
    # Logs are JSON lines on stderr with stable event names.
    events = [json.loads(line)["event"] for line in scan.stderr.splitlines()]
    assert "scan.started" in events and "scan.finished" in events

    status = run_cli("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["runs"][0]["stats_date"] == "2024-12-09"
    assert data["runs"][0]["status"] == "succeeded"
    assert "counts" in data["deliveries"]

    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow("SELECT * FROM task_daily_stats WHERE task_id = 1")
    finally:
        await conn.close()
    assert row is not None and row["stats_date"] == date(2024, 12, 9)
    assert (row["yt_view_count"], row["dy_view_count"], row["dy_share_count"]) == (1200, 8000, 28)


def test_bad_date_and_bad_id_are_usage_errors(db_url: str) -> None:
    env = {"DATABASE_URL": db_url}
    bad_date = run_cli("scan", "--date", "2024-13-01", env=env)
    assert bad_date.returncode == 2 and "not a date" in bad_date.stderr
    bad_id = run_cli("replay", "--id", "junk", env=env)
    assert bad_id.returncode == 2 and "not a delivery id" in bad_id.stderr


def test_backfill_scans_each_day_with_progress(db_url: str) -> None:
    result = run_cli(
        "backfill",
        "--from",
        "2024-12-01",
        "--to",
        "2024-12-03",
        "--no-deliver",
        "--json",
        env={"DATABASE_URL": db_url},
    )
    assert result.returncode == 0, result.stderr
    days = [s["stats_date"] for s in json.loads(result.stdout)["scans"]]
    assert days == ["2024-12-01", "2024-12-02", "2024-12-03"]
    assert "[3/3] 2024-12-03 succeeded" in result.stderr


def test_a_retention_below_the_windows_it_serves_exits_2_naming_it(db_url: str) -> None:
    for retention, catchup in (("1", "3"), ("3", "3")):
        env = {"DATABASE_URL": db_url, "RETENTION_DAYS": retention, "CATCHUP_DAYS": catchup}
        result = run_cli("run", env=env)
        assert result.returncode == 2, result.stderr
        assert "RETENTION_DAYS" in result.stderr
    ok = run_cli("status", env={"DATABASE_URL": db_url, "RETENTION_DAYS": "0"})
    assert ok.returncode == 0, ok.stderr
