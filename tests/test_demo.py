"""`dailystats demo` as a newcomer runs it: a process that needs no settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_demo_runs_the_whole_pipeline_without_settings() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEBHOOK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["first_scan"]["status"] == "succeeded"
    assert report["first_delivery"]["delivered"] == len(report["webhooks"]) == 2
    assert all(w["signature_ok"] and w["standard_webhooks_ok"] for w in report["webhooks"])
    by_task = {row["task_id"]: row for row in report["task_daily_stats"]}
    assert by_task[1]["yt_view_count"] == 15230 + 2210  # one video counted once
    assert by_task[3]["webhook_sent"] is False  # no callback URL: saved, not sent
    assert report["second_scan"]["deliveries_queued"] == 0
    # The split by agent node: sample users have nodes; the nodes add up to each row.
    nodes = report["node_stats"]
    assert {n["agent_node"] for n in nodes} == {"north", "south", ""}  # " north " trimmed
    for task_id, row in by_task.items():
        parts = [n for n in nodes if n["task_id"] == task_id]
        for column in ("total_account_count", "total_completion_count", "yt_view_count"):
            assert sum(n[column] for n in parts) == row[column]


def test_the_demo_screen_adds_up_and_says_why() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEBHOOK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (first,) = [line for line in lines if line.startswith("First scan:")]
    total = int(first.split(" videos: ")[0].rsplit(" ", 1)[1])
    parts = first.split(" videos: ")[1].split(" (")[0].rstrip(".").split(", ")
    assert sum(int(p.split()[0]) for p in parts) == total  # every video named by its source
    assert "from the bot's saved details" in first
    assert "API calls: YouTube 1," in result.stdout and "{'" not in result.stdout
    start = next(i for i, line in enumerate(lines) if line.startswith("task_daily_stats ("))
    table = lines[start : lines.index("", start)]  # the node table follows: same task ids
    (task3,) = [line for line in table if line.startswith("  3  ")]
    assert task3.endswith("no: no callback URL (and no WEBHOOK_DEFAULT_URL)")
    (task1,) = [line for line in table if line.startswith("  1  ")]
    assert task1.split()[:2] == ["1", "42"]  # our task 1 is X2C's task_id 42
    assert any(line.startswith("split by agent node") for line in lines)
