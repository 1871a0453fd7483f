"""The command line as an operator meets it in the first hour (issue 17): the unit's
settings file, the version, refused dates, the health server's host and a busy port."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.run.daemon_logs import free_port, started
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_installed_distributions() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"dailystats {version('dailystats')}"
    assert version("dailystats") != "0.1.0"  # from git now, not a number nobody moves


def _unit_file(tmp_path: Path, db_url: str) -> Path:
    # The example as shipped, DATABASE_URL filled in: what the unit's EnvironmentFile is.
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    lines = [
        f"DATABASE_URL={db_url}" if ln.startswith("DATABASE_URL=") else ln
        for ln in text.splitlines()
    ]
    path = tmp_path / "dailystats.env"
    path.write_text("\n".join([*lines, "SITE_NAME=FromTheUnitFile", ""]), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["option before", "option after", "variable"])
def test_one_shot_commands_read_the_units_settings_file(
    db_url: str, tmp_path: Path, how: str
) -> None:
    unit = _unit_file(tmp_path, db_url)
    args = {
        "option before": ["--env-file", str(unit), "status", "--json"],
        "option after": ["status", "--json", "--env-file", str(unit)],
        "variable": ["status", "--json"],
    }[how]
    env = {"DAILYSTATS_ENV_FILE": str(unit)} if how == "variable" else {}
    done = run_cli(*args, env=env)  # no DATABASE_URL in the environment: the file has it
    assert done.returncode == 0, done.stderr
    assert "runs" in json.loads(done.stdout)


async def test_the_units_file_settings_reach_the_command(db_url: str, tmp_path: Path) -> None:
    # SITE_NAME from the file lands in the payload a scan queues: the file was really read.
    conn = await asyncpg.connect(db_url)
    try:
        await insert_tasks(conn, [1], callback_url="https://x2c.example/hook")
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
                    datetime(2024, 12, 9, 10),
                    {"view_count": 5},
                )
            ],
        )
        unit = _unit_file(tmp_path, db_url)
        done = run_cli("scan", "--date", "2024-12-09", "--no-deliver", "--env-file", str(unit))
        assert done.returncode == 0, done.stderr
        body = await conn.fetchval("SELECT body FROM dailystats_deliveries")
    finally:
        await conn.close()
    assert json.loads(body)["site_name"] == "FromTheUnitFile"


def test_a_settings_file_that_cannot_be_read_is_a_bad_setting(tmp_path: Path) -> None:
    done = run_cli("status", "--env-file", str(tmp_path / "nope.env"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"dailystats: cannot read the settings file {tmp_path / 'nope.env'}: "
        "No such file or directory"
    ]


def test_a_day_not_over_yet_is_refused_and_nothing_is_recorded(db_url: str) -> None:
    today = datetime.now(UTC).date() + timedelta(days=1)  # after yesterday in any zone
    env = {"DATABASE_URL": db_url, "STATS_TIMEZONE": "UTC"}
    for args in (
        ["scan", "--date", "2030-01-01"],
        ["scan", "--date", str(today)],
        ["backfill", "--from", "2024-12-01", "--to", "2030-01-01"],
    ):
        done = run_cli(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        (line,) = done.stderr.splitlines()
        assert "is not over yet: the latest day to scan is" in line
    status = run_cli("status", "--json", env=env)
    assert json.loads(status.stdout)["runs"] == []


def test_a_reversed_backfill_range_is_a_usage_error(db_url: str) -> None:
    done = run_cli(
        "backfill", "--from", "2024-12-03", "--to", "2024-12-01", env={"DATABASE_URL": db_url}
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "dailystats: the range ends (2024-12-01) before it starts (2024-12-03)"
    ]


def test_help_says_what_each_option_is() -> None:
    backfill = run_cli("backfill", "--help").stdout
    assert "the first day" in backfill and "the last day" in backfill
    demo = run_cli("demo", "--help").stdout
    assert "the local PostgreSQL, else an embedded" in " ".join(demo.split())


def _other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def _answers(host: str, port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{host}:{port}/healthz", timeout=aiohttp.ClientTimeout(5)) as r,
        ):
            return r.status == 200
    except aiohttp.ClientError:
        return False


async def test_health_listens_on_loopback_unless_health_host_says_otherwise(db_url: str) -> None:
    async with started(db_url) as (proc, port):  # HEALTH_HOST unset: 127.0.0.1
        await proc.wait_for("service.ready")
        assert await _answers("127.0.0.1", port)
        other = _other_address()
        if other is not None:
            assert not await _answers(other, port)
    async with started(db_url, HEALTH_HOST="127.0.0.2") as (proc, port):
        await proc.wait_for("service.ready")
        assert await _answers("127.0.0.2", port)
        assert not await _answers("127.0.0.1", port)


async def test_a_busy_health_port_ends_run_with_one_line_naming_the_setting(
    db_url: str,
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        async with started(db_url, HEALTH_PORT=str(port)) as (proc, _):
            assert await asyncio.wait_for(proc.process.wait(), 60) == 2
            await proc.reader
    errors = [e for e in proc.events if e["level"] in ("error", "critical")]
    assert [e["event"] for e in errors] == ["service.health_unavailable"]
    assert errors[0]["error"].startswith(
        f"bad setting HEALTH_PORT/HEALTH_HOST: cannot listen on 127.0.0.1:{port}: "
    )
    assert "exception" not in errors[0] and not proc.logs.plain
    assert free_port() != port


async def test_explain_reads_as_sentences_and_says_why_a_video_is_missing(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await insert_tasks(conn, [5], external_task_id=None, project_id=None)
        await insert_completions(
            conn,
            [
                Completion(
                    1,
                    5,
                    7,
                    "submitted",
                    "YouTube",
                    "https://youtu.be/dQw4w9WgXcQ",
                    datetime(2024, 12, 9, 10),
                    None,
                )
            ],
        )
    finally:
        await conn.close()
    done = run_cli("explain", "--task", "5", "--date", "2024-12-09", env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("task 5 (no X2C task id) on 2024-12-09: 1 completion on 1 video.")
    assert "None" not in out
    assert "missing: no YOUTUBE_API_KEY is set, so its provider is off; counts 0." in out
    # The legend names only the sources that appear.
    assert "  missing     no stats at all" in out and "last_known" not in out


async def test_status_shows_deliveries_as_a_sentence(db_url: str) -> None:
    done = run_cli("status", env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    assert (
        "Deliveries: 0 pending (0 due now), 0 delivered, 0 dead, 0 superseded by a newer version."
        in done.stdout.splitlines()
    )
    assert "{" not in done.stdout
