"""Logging as a process does it: every line on stderr, whatever wrote it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

LOCAL_SECRET = "frame-local-LEAK-4242"

# Everything that can write to stderr in a daemon: structlog, a library's stdlib logger,
# warnings, an exception logged with its traceback (a secret in a frame local and one in
# the message), asyncio's "never retrieved" handler, and finally an uncaught exception.
SCRIPT = textwrap.dedent(
    f"""
    import asyncio, logging, sys, warnings
    import structlog
    from daemon.rules import redact
    from daemon.run.logs import configure_logging

    redact.register("registered-LEAK-777")
    configure_logging(sys.argv[1], "INFO")
    log = structlog.get_logger("daemon.test")
    log.info("structlog.event", stats_date="2024-12-09")
    logging.getLogger("daemon.fetch.youtube").warning("stopping YouTube fetches: %s", "quota")
    logging.getLogger("asyncpg.pool").warning("library line\\nwith two lines")
    warnings.warn("a library is deprecated", DeprecationWarning)

    def crash():
        password = "{LOCAL_SECRET}"
        raise RuntimeError("cannot reach postgresql://bot:registered-LEAK-777@db/bot")

    try:
        crash()
    except RuntimeError:
        log.exception("scan.failed")

    async def orphan():
        async def boom():
            raise ValueError("task died")
        task = asyncio.get_running_loop().create_task(boom())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        del task
    asyncio.run(orphan())
    import gc; gc.collect()
    crash()
    """
)


def run_script(log_format: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, log_format],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def parse_lines(stderr: str) -> list[dict[str, Any]]:
    lines = stderr.splitlines()
    assert lines, "nothing logged"
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not one JSON object: {line!r}")
    return events


def test_every_line_in_json_mode_is_one_json_object_without_locals_or_secrets() -> None:
    done = run_script("json")
    assert done.returncode == 1  # the uncaught exception still ends the process
    assert done.stdout == ""
    events = parse_lines(done.stderr)
    by_event = {e["event"]: e for e in events}
    assert by_event["structlog.event"]["stats_date"] == "2024-12-09"
    quota = by_event["stopping YouTube fetches: quota"]
    assert (quota["level"], quota["logger"]) == ("warning", "daemon.fetch.youtube")
    assert by_event["library line\nwith two lines"]["logger"] == "asyncpg.pool"
    assert any(e["logger"] == "py.warnings" and "deprecated" in e["event"] for e in events)
    failed = by_event["scan.failed"]
    assert failed["level"] == "error"
    (exc,) = failed["exception"]
    assert exc["exc_type"] == "RuntimeError" and exc["frames"]
    assert all("locals" not in frame for frame in exc["frames"])
    assert any(e["logger"] == "asyncio" and "never retrieved" in e["event"] for e in events)
    uncaught = by_event["uncaught_exception"]
    assert uncaught["level"] == "critical" and uncaught["exception"][0]["frames"]
    for secret in (LOCAL_SECRET, "registered-LEAK-777"):
        assert secret not in done.stderr
    assert "postgresql://bot:***@db/bot" in done.stderr  # masked, not dropped


def test_console_mode_stays_readable_and_redacted() -> None:
    done = run_script("console")
    assert "structlog.event" in done.stderr and "stats_date=2024-12-09" in done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert not done.stderr.lstrip().startswith("{")
    for secret in (LOCAL_SECRET, "registered-LEAK-777"):
        assert secret not in done.stderr


ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path = ROOT / "tests", **env: str) -> subprocess.CompletedProcess[str]:
    # tests/ has no .env; PYTHONPATH finds the package from any working directory.
    base = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        timeout=60,
        check=False,
        cwd=cwd,
    )


DB = "postgresql://bot:bad-setting-LEAK-pw@127.0.0.1:1/bot"


@pytest.mark.parametrize("log_format", ["json", "bogus", ""])
def test_run_with_a_bad_setting_writes_one_json_line(log_format: str) -> None:
    # stderr is a pipe here, so an unset or bad LOG_FORMAT also means JSON.
    done = _cli("run", DATABASE_URL=DB, SCAN_CRON="not a cron", LOG_FORMAT=log_format)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    event = json.loads(line)
    assert event["event"] == "settings.invalid" and event["level"] == "error"
    assert "SCAN_CRON" in event["error"]
    if log_format == "bogus":
        assert "LOG_FORMAT" in event["error"]
    assert "bad-setting-LEAK-pw" not in done.stderr


def test_run_with_a_bad_setting_in_console_mode_and_one_shot_commands_stay_plain() -> None:
    for args, env in (
        (("run",), {"LOG_FORMAT": "console"}),
        (("status",), {"LOG_FORMAT": "json"}),
    ):
        done = _cli(*args, DATABASE_URL=DB, SCAN_CRON="not a cron", **env)
        assert done.returncode == 2
        assert done.stderr.startswith("dailystats: bad setting SCAN_CRON")
        assert len(done.stderr.splitlines()) == 1


def test_log_format_for_the_bad_setting_line_is_read_from_dot_env_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_FORMAT=console\nSCAN_CRON=never\n")
    done = _cli("run", cwd=tmp_path, DATABASE_URL=DB)
    assert done.returncode == 2
    assert done.stderr.startswith("dailystats: bad setting SCAN_CRON")


LIBRARIES_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from daemon.run.logs import LIBRARY_LOGGERS, configure_logging
    configure_logging("json", sys.argv[1])
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name + ".inner").info("chatter from %s", name)
        logging.getLogger(name).warning("trouble in %s", name)
    logging.getLogger("daemon.run.service").info("ours")
    """
)


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("DEBUG", True)])
def test_library_info_lines_only_with_log_level_debug(level: str, shown: bool) -> None:
    from daemon.run.logs import LIBRARY_LOGGERS

    done = subprocess.run(
        [sys.executable, "-c", LIBRARIES_SCRIPT, level],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    events = [e["event"] for e in parse_lines(done.stderr)]
    assert "ours" in events
    assert all(f"trouble in {n}" in events for n in LIBRARY_LOGGERS)
    assert all((f"chatter from {n}" in events) is shown for n in LIBRARY_LOGGERS)
