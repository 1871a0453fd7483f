"""The settings class is the one list of settings: ``.env.example`` and the README's
settings tables name every one of them (and nothing else), and the example reads the
same whichever of its readers reads it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from daemon.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
SETTINGS = sorted(name.upper() for name in Settings.model_fields)
URL = "postgresql://u:p@127.0.0.1:5432/bot"


def _example_names() -> list[str]:
    # `KEY=value`, or `# KEY=value` for one left to the unit and the image.
    return re.findall(r"(?m)^#? ?([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(encoding="utf-8"))


def _readme_table_names() -> set[str]:
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(rows)))


def test_the_example_names_every_setting_once_and_nothing_else() -> None:
    names = _example_names()
    assert sorted(set(SETTINGS) - set(names)) == [], "settings missing from .env.example"
    assert sorted(set(names) - set(SETTINGS)) == [], ".env.example names unknown settings"
    assert len(names) == len(set(names)), "a setting twice in .env.example"


def test_the_readme_tables_name_every_setting() -> None:
    missing = sorted(set(SETTINGS) - _readme_table_names())
    assert missing == [], "settings missing from the README's settings tables"


def test_the_example_leaves_log_format_to_the_unit_and_the_image() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert re.search(r"(?m)^LOG_FORMAT=", text) is None
    assert "LOG_FORMAT=json" in (ROOT / "deploy/systemd/dailystats.service").read_text()
    assert "LOG_FORMAT=json" in (ROOT / "Dockerfile").read_text()


def _as_docker_reads_it() -> dict[str, str]:
    # `docker run --env-file`: KEY=value taken literally, quotes and all.
    pairs = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def _as_a_shell_reads_it(tmp_path: Path) -> dict[str, str]:
    script = f'set -a; . "{EXAMPLE}"; exec env -0'
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, env={}, cwd=tmp_path, check=False
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr  # no `2: command not found`
    env = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in env.items() if k in SETTINGS}


def _settings_from(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    for name in list(os.environ):
        if name.upper() in SETTINGS:
            monkeypatch.delenv(name)
    for key, value in {**env, "DATABASE_URL": URL}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return load_settings().model_dump(mode="json")


def test_every_reader_of_the_example_gets_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        for name in list(os.environ):
            if name.upper() in SETTINGS:
                m.delenv(name)
        m.setenv("DATABASE_URL", URL)
        m.chdir(tmp_path)
        as_dotenv = load_settings(EXAMPLE).model_dump(mode="json")
    assert as_dotenv["scan_cron"] == "0 2 * * *"
    # As shipped it is the defaults, but for what the example must fill in.
    defaults = Settings(database_url=URL).model_dump(mode="json")  # type: ignore[arg-type]
    assert as_dotenv == defaults
    with monkeypatch.context() as m:
        assert _settings_from(_as_docker_reads_it(), tmp_path, m) == as_dotenv
    with monkeypatch.context() as m:
        assert _settings_from(_as_a_shell_reads_it(tmp_path), tmp_path, m) == as_dotenv
