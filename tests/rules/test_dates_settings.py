"""Pure helpers: stats-date bounds, and settings validated with one clear line."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from daemon.rules.dates import day_bounds, days_between, yesterday
from daemon.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("day", "zone", "start", "end"),
    [
        (date(2024, 12, 9), "UTC", datetime(2024, 12, 9), datetime(2024, 12, 10)),
        (date(2024, 12, 9), "Asia/Shanghai", datetime(2024, 12, 8, 16), datetime(2024, 12, 9, 16)),
        # 23 hours: clocks go forward in New York on 2024-03-10.
        (date(2024, 3, 10), "America/New_York", datetime(2024, 3, 10, 5), datetime(2024, 3, 11, 4)),
        # 25 hours: and back on 2024-11-03.
        (date(2024, 11, 3), "America/New_York", datetime(2024, 11, 3, 4), datetime(2024, 11, 4, 5)),
    ],
)
def test_day_bounds(day: date, zone: str, start: datetime, end: datetime) -> None:
    assert day_bounds(day, ZoneInfo(zone)) == (start, end)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        (datetime(2024, 12, 10, 2, 0, tzinfo=UTC), "UTC", date(2024, 12, 9)),
        # 20:00 UTC on the 9th is already the 10th in Shanghai.
        (datetime(2024, 12, 9, 20, 0, tzinfo=UTC), "Asia/Shanghai", date(2024, 12, 9)),
        (datetime(2024, 12, 10, 3, 0, tzinfo=UTC), "America/New_York", date(2024, 12, 8)),
    ],
)
def test_yesterday(now: datetime, zone: str, expected: date) -> None:
    assert yesterday(ZoneInfo(zone), now) == expected


def test_days_between() -> None:
    assert days_between(date(2024, 2, 28), date(2024, 3, 1)) == [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]
    assert days_between(date(2024, 3, 1), date(2024, 2, 28)) == []


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith(
            (
                "DATABASE_",
                "YOUTUBE_",
                "TIKHUB_",
                "WEBHOOK_",
                "STATS_",
                "SCAN_",
                "SITE_",
                "HEALTH_",
                "LOG_",
                "CATCHUP_",
                "FETCH_",
                "COMPLETED_",
            )
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))  # no stray .env
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@localhost/db")
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.stats_timezone == "UTC" and s.site_name == "DramaRelayBot"
    assert s.completed_statuses == ("submitted", "approved", "completed", "verified")
    assert s.youtube_api_key is None and s.webhook_max_attempts == 8
    assert s.scan_cron == "0 2 * * *"
    assert s.settle_days == 3


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: must be a postgresql:// URL"),
        ("STATS_TIMEZONE", "Mars/Olympus", "STATS_TIMEZONE: unknown time zone 'Mars/Olympus'"),
        ("SCAN_CRON", "every night", "SCAN_CRON: not a crontab expression"),
        ("HEALTH_PORT", "99999", "HEALTH_PORT:"),
        ("WEBHOOK_MAX_ATTEMPTS", "zero", "WEBHOOK_MAX_ATTEMPTS:"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT:"),
        ("WEBHOOK_ALLOW_PRIVATE", "maybe", "WEBHOOK_ALLOW_PRIVATE:"),
        ("FETCH_CONCURRENCY", "0", "FETCH_CONCURRENCY:"),
        ("WEBHOOK_DEFAULT_URL", "ftp://x", "WEBHOOK_DEFAULT_URL: must be an http"),
        ("COMPLETED_STATUSES", " , ", "COMPLETED_STATUSES: needs at least one status"),
        ("SETTLE_DAYS", "-1", "SETTLE_DAYS:"),
        # retention never below the windows it serves (defaults: CATCHUP 3, SETTLE 3)
        ("RETENTION_DAYS", "4", "RETENTION_DAYS: must be 0 or larger than CATCHUP_DAYS (3)"),
        ("RETENTION_DAYS", "3", "RETENTION_DAYS: must be 0 or larger"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(
    clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_missing_database_url_is_named(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("DATABASE_URL")
    with pytest.raises(SettingsError, match="DATABASE_URL: is required"):
        load_settings()


def test_env_file_and_lists(clean_env: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    Path(str(tmp_path), ".env").write_text(
        "STATS_TIMEZONE=Asia/Shanghai\nCOMPLETED_STATUSES=approved, verified\nYOUTUBE_API_KEY=\n"
    )
    s = load_settings()
    assert s.zone == ZoneInfo("Asia/Shanghai")
    assert s.completed_statuses == ("approved", "verified")
    assert s.youtube_api_key is None
