"""The deploy files as shipped: the example settings start the daemon, the compose
file has what it must, and the systemd unit is hardened and valid."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from daemon.settings import Settings, SettingsError, load_settings
from tests.run.daemon_logs import LogLines, free_port

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
UNIT = ROOT / "deploy" / "systemd" / "dailystats.service"
# Every variable the daemon reads, so that the test's own environment cannot leak in.
SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def example_lines() -> list[tuple[str, str]]:
    """KEY=value pairs of .env.example, read the way systemd and docker both read it."""
    pairs = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}


# -- the example settings ------------------------------------------------------------


def test_example_settings_read_the_same_under_systemd_docker_and_dotenv() -> None:
    # systemd's EnvironmentFile strips quotes and joins backslash-continued lines,
    # docker's --env-file keeps both literally, python-dotenv expands ${...} and drops
    # " #..." comments: a file without any of those reads the same in all three.
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\"'#$\\]*", line), line
        assert line == line.rstrip(), f"trailing blank: {line!r}"
    names = [key for key, _ in example_lines()]
    assert len(names) == len(set(names))
    assert set(names) <= SETTING_NAMES, set(names) - SETTING_NAMES
    from dotenv import dotenv_values

    assert dotenv_values(ENV_EXAMPLE) == dict(example_lines())


def test_example_settings_load_with_only_database_url_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / "dailystats.env"
    env_file.write_text(
        ENV_EXAMPLE.read_text(encoding="utf-8").replace(
            "DATABASE_URL=postgresql://dailystats:CHANGE-ME@", "DATABASE_URL=postgresql://u:p@"
        )
    )
    settings = load_settings(_env_file=env_file)
    assert settings.database_url.get_secret_value() == "postgresql://u:p@127.0.0.1:5432/bot"
    # The empty ones are unset: defaults, providers off, no default callback.
    assert settings.webhook_default_url is None
    assert settings.webhook_default_secret is None
    assert settings.youtube_api_key is None and settings.tikhub_api_key is None
    assert settings.log_format == "json"


def test_an_empty_value_means_unset_but_database_url_stays_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://u@h/db\nHEALTH_PORT=\n")
    monkeypatch.setenv("WEBHOOK_DEFAULT_URL", "")
    monkeypatch.setenv("LOG_FORMAT", "")
    settings = load_settings()
    assert settings.health_port == 8080
    assert settings.webhook_default_url is None and settings.log_format is None
    monkeypatch.setenv("DATABASE_URL", "")
    (tmp_path / ".env").write_text("DATABASE_URL=\n")
    with pytest.raises(SettingsError, match="DATABASE_URL: is required"):
        load_settings()
    monkeypatch.setenv("WEBHOOK_DEFAULT_URL", "ftp://x")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    with pytest.raises(SettingsError, match="WEBHOOK_DEFAULT_URL"):
        load_settings()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["dotenv", "env_file"])
async def test_the_daemon_starts_on_the_example_settings_as_shipped(
    how: str, db_url: str, tmp_path: Path
) -> None:
    """.env.example with DATABASE_URL filled in and nothing else changed: as a .env in
    the working directory, and as the environment systemd/docker make of the file."""
    port = free_port()
    env = clean_env()
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    filled = re.sub(r"(?m)^DATABASE_URL=.*$", f"DATABASE_URL={db_url}", example)
    assert filled != example
    if how == "dotenv":
        (tmp_path / ".env").write_text(filled, encoding="utf-8")
    else:
        env.update(dict(example_lines()) | {"DATABASE_URL": db_url})
    # The one change a test needs: a port of its own (the environment wins over .env).
    env["HEALTH_PORT"] = str(port)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "run",
        cwd=tmp_path,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    logs = LogLines(process.stderr)
    try:
        await logs.wait_for_event("service.ready", 60)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        await logs.task
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        logs.task.cancel()
    assert logs.seen("service.stopped")
    # LOG_FORMAT=json as shipped: every line was one JSON object.
    assert logs.plain == []


# -- compose.yaml --------------------------------------------------------------------


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert match and value, value
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def test_compose_file_runs_the_daemon_and_a_trial_database() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    # prometheus: the monitoring profile (tests/deploy/test_monitoring.py)
    assert set(services) == {"dailystats", "bot-db", "dailystats-trial", "prometheus"}
    grace = float(dict(example_lines())["SHUTDOWN_GRACE_SECONDS"])
    for name in ("dailystats", "dailystats-trial"):
        daemon = services[name]
        assert daemon["build"] == "."
        assert daemon["command"][-1] == "dailystats migrate && exec dailystats run"
        assert daemon["restart"] in {"unless-stopped", "always", "on-failure"}
        assert daemon["stop_signal"] == "SIGTERM"
        assert _seconds(daemon["stop_grace_period"]) > grace
        check = daemon["healthcheck"]
        assert check["test"][0] == "CMD" and "HEALTH_PORT" in " ".join(check["test"])
        assert "/healthz" in " ".join(check["test"])
    # The same probe as the image's HEALTHCHECK (no drift between the two).
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    image_check = re.search(r"(?m)^\s+CMD (\[.*\])$", dockerfile.split("HEALTHCHECK", 1)[1])
    assert image_check
    assert services["dailystats"]["healthcheck"]["test"] == ["CMD", *json.loads(image_check[1])]
    # Production: no profile, settings from the operator's env file.
    assert "profiles" not in services["dailystats"]
    assert services["dailystats"]["env_file"] == "dailystats.env"
    # The trial: a PostgreSQL seeded with the bot's schema, the daemon pointed at it.
    db, trial = services["bot-db"], services["dailystats-trial"]
    assert db["profiles"] == ["trial"] and trial["profiles"] == ["trial"]
    seeds = [v for v in db["volumes"] if "/docker-entrypoint-initdb.d/" in v]
    assert len(seeds) == 1
    source = seeds[0].split(":")[0]
    assert (ROOT / source).resolve() == ROOT / "daemon" / "store" / "bot_schema.sql"
    assert "pg_isready" in db["healthcheck"]["test"]
    assert trial["depends_on"]["bot-db"]["condition"] == "service_healthy"
    assert trial["env_file"] == ".env.example"
    dsn = trial["environment"]["DATABASE_URL"]
    pg = db["environment"]
    assert dsn == (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@bot-db:5432/"
        f"{pg['POSTGRES_DB']}"
    )


def test_dockerfile_has_the_deploy_essentials() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"(?m)^ARG BASE_IMAGE=python:3\.11-slim$", text)
    assert re.search(r"(?m)^FROM \$\{BASE_IMAGE\}$", text)
    assert "--require-hashes -r /opt/dailystats/runtime.lock" in text
    assert "--editable" not in text and " -e " not in text
    assert re.search(r"(?m)^USER dailystats$", text)
    assert re.search(r"(?m)^STOPSIGNAL SIGTERM$", text)
    assert "HEALTH_PORT" in text.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    # Allow-list: everything is out unless named; .env, .venv, .git are never named.
    assert rules[0] == "*"
    assert not [line for line in rules if re.match(r"!\.?(env|venv|git)", line)]
    # What it lets in is what the build copies.
    for copied in re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", text):
        for source in copied.split():
            assert f"!{source}" in rules or f"!{source}/" in rules, source


# -- the systemd unit ----------------------------------------------------------------

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)


def _unit_settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_unit_is_notify_with_a_watchdog_and_a_long_enough_stop() -> None:
    unit = _unit_settings()
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert _seconds(unit["WatchdogSec"][0]) > 0
    grace = float(dict(example_lines())["SHUTDOWN_GRACE_SECONDS"])
    assert _seconds(unit["TimeoutStopSec"][0] + "s") > grace
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["ExecStart"] == ["/opt/dailystats/venv/bin/dailystats run"]
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert unit["EnvironmentFile"] == ["/etc/dailystats/dailystats.env"]
    # Reaching PostgreSQL's socket and the network must stay possible.
    assert "PrivateNetwork" not in unit and "IPAddressDeny" not in unit
    assert not [v for v in unit.get("InaccessiblePaths", []) if "/run" in v]


@needs_analyze
def test_unit_is_rated_at_most_2_0_by_systemd_analyze_security() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= 2.0, result.stdout
    # --threshold is the exit code's cut-off (in tenths): within it, success.
    assert result.returncode == 0


@needs_analyze
def test_unit_verifies_against_a_staged_root(tmp_path: Path) -> None:
    """`verify` checks the unit against a root holding the paths it names (the real
    ones do not exist on a build machine): the executables, the env file, the
    targets it depends on. A missing executable fails it, so this can fail."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/dailystats.service")
    for exe in ("/opt/dailystats/venv/bin/dailystats", "/bin/kill"):
        path = root / exe.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    (root / "etc/dailystats").mkdir()
    (root / "etc/dailystats/dailystats.env").write_text(ENV_EXAMPLE.read_text())
    (root / "opt/dailystats").mkdir(exist_ok=True)
    targets = root / "usr/lib/systemd/system"
    targets.mkdir(parents=True)
    for target in ("sysinit", "basic", "shutdown", "multi-user", "network-online"):
        (targets / f"{target}.target").write_text(f"[Unit]\nDescription={target}\n")

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["systemd-analyze", "verify", "--man=no", f"--root={root}", "dailystats.service"],
            capture_output=True,
            text=True,
            check=False,
        )

    result = verify()
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )
    (root / "opt/dailystats/venv/bin/dailystats").unlink()
    result = verify()
    assert result.returncode != 0 and "not executable" in result.stdout + result.stderr
