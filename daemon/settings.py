"""Settings from the environment and a settings file, validated once at the edge.

The class below is the one list of settings: ``.env.example`` and the README's settings
tables are held to it (tests/deploy/test_settings_docs.py). The file is ``./.env``, or
the one named by ``--env-file`` / ``DAILYSTATS_ENV_FILE`` (the unit's file, so one-shot
commands see what the daemon sees); the environment wins over the file.

Commands call :func:`load_settings` and pass plain values inward; a bad value ends the
command with one line naming the variable (:class:`SettingsError`), never a traceback.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_COMPLETED_STATUSES = ("submitted", "approved", "completed", "verified")
# The settings file the unit uses, for one-shot commands (``--env-file`` says the same).
ENV_FILE_VARIABLE = "DAILYSTATS_ENV_FILE"


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # Deploy: `KEY=` in the env file (systemd EnvironmentFile, docker --env-file) means
        # unset, so .env.example starts as shipped; a required DATABASE_URL= still fails.
        env_ignore_empty=True,
    )

    # A secret: its repr and str hide the password (README "Security").
    database_url: SecretStr
    database_pool_size: int = Field(10, ge=2, le=100)

    stats_timezone: str = "UTC"
    completed_statuses: Annotated[tuple[str, ...], NoDecode] = DEFAULT_COMPLETED_STATUSES
    site_name: str = Field("DramaRelayBot", min_length=1)

    youtube_api_key: SecretStr | None = None
    youtube_api_url: str = "https://www.googleapis.com/youtube/v3"
    tikhub_api_key: SecretStr | None = None
    tikhub_api_url: str = "https://api.tikhub.io"
    fetch_concurrency: int = Field(16, ge=1, le=1000)
    fetch_timeout_seconds: float = Field(10.0, gt=0, le=300)
    fetch_max_retries: int = Field(3, ge=0, le=20)
    tikhub_rate_per_second: float = Field(5.0, ge=0)
    youtube_rate_per_second: float = Field(0.0, ge=0)
    # How long fetched stats are reused before a scan asks the platform again.
    video_stats_max_age_seconds: int = Field(6 * 3600, ge=0)
    # saved_first: verification_details, then cache, then live (spec section 3).
    # live_first: cache or live stats win over saved ones where they can be had.
    stats_source_policy: Literal["saved_first", "live_first"] = "saved_first"

    # --- TikHub cost, budget and provider stops (issue 7, spec section 5) ---------
    # Batch endpoints on; off only to compare with one call per video (the benchmark).
    tikhub_batch: bool = True
    # USD per call answered 200, TikHub's published prices by default.
    tikhub_price_tiktok_single: Decimal = Field(Decimal("0.001"), ge=0)
    tikhub_price_tiktok_batch: Decimal = Field(Decimal("0.025"), ge=0)
    tikhub_price_douyin_single: Decimal = Field(Decimal("0.001"), ge=0)
    tikhub_price_douyin_batch: Decimal = Field(Decimal("0.05"), ge=0)
    tikhub_price_douyin_statistics: Decimal = Field(Decimal("0.025"), ge=0)
    # Unset or empty: no cap. Reached: TikHub stops until midnight in STATS_TIMEZONE.
    tikhub_daily_budget_usd: Decimal | None = Field(None, ge=0)

    webhook_default_url: str | None = None
    webhook_default_secret: SecretStr | None = None
    webhook_allow_private: bool = False
    webhook_max_attempts: int = Field(8, ge=1, le=100)
    webhook_timeout_seconds: float = Field(15.0, gt=0, le=300)
    webhook_concurrency: int = Field(16, ge=1, le=1000)
    # X2C's legacy receiver reads the secret from X-Webhook-Secret: off unless asked.
    webhook_legacy_secret_header: bool = False
    webhook_retry_interval_seconds: float = Field(30.0, gt=0, le=3600)
    # X2C v2 has no nodes: off, the wire is unchanged. On, each stats item carries its
    # split by agent node (spec section 9), and the open days are sent again once.
    webhook_include_nodes: bool = False

    scan_cron: str = "0 2 * * *"
    # After SIGTERM, how long in-flight work may finish before it is cancelled (a
    # cancelled scan is recorded 'interrupted' and simply runs again).
    shutdown_grace_seconds: float = Field(30.0, ge=0, le=3600)
    catchup_days: int = Field(3, ge=0, le=366)
    # Days before yesterday that each nightly run rescans as settle rescans (spec
    # section 7: a day stays open for the bot's late changes until settled); 0 = off.
    settle_days: int = Field(3, ge=0, le=366)
    health_port: int = Field(8080, ge=0, le=65535)
    # Loopback by default: /metrics tells anyone who can reach it about the business.
    # The image and compose set 0.0.0.0 (a container's port is published explicitly).
    health_host: str = Field("127.0.0.1", min_length=1)
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    migrations_dir: Path | None = None

    # --- lifecycle (issue 8): scan retries, look-back, database timeouts, retention
    # A failed or crashed scan of a day is tried again after a backoff that doubles from
    # the base up to the cap (with jitter), until it succeeds.
    scan_retry_base_seconds: float = Field(60.0, gt=0, le=86400)
    scan_retry_max_seconds: float = Field(3600.0, gt=0, le=86400)
    # How often the look-back (days without a successful scan, incomplete days whose
    # provider stop has cleared) is checked again while the daemon runs.
    lookback_interval_seconds: float = Field(900.0, gt=0, le=86400)
    # How long a scan waits for a day another process is scanning before it gives up
    # and retries later: a hung holder never holds this daemon up for ever.
    day_lock_wait_seconds: float = Field(3600.0, gt=0, le=7 * 86400)
    # Server-side bounds on every statement and lock wait of the daemon (0 turns one off).
    database_statement_timeout_seconds: float = Field(600.0, ge=0, le=86400)
    database_lock_timeout_seconds: float = Field(30.0, ge=0, le=86400)
    database_connect_timeout_seconds: float = Field(10.0, gt=0, le=600)
    # Scan runs, cached stats, short links and replaced deliveries older than this are
    # pruned by the daemon (0 keeps everything).
    retention_days: int = Field(400, ge=0, le=36500)
    # --- classification (issue 15): how often the daemon classifies the open days'
    # new and changed completions, so scans only aggregate (0: off; scans classify).
    classify_interval_seconds: float = Field(300.0, ge=0, le=86400)

    @model_validator(mode="before")
    @classmethod
    def _unquote(cls, values: object) -> object:
        # `KEY="a b"`: systemd, dotenv and a shell drop the quotes, `docker run --env-file`
        # keeps them; read the value the same whichever passed it on.
        if isinstance(values, dict):
            return {key: _unquoted(value) for key, value in values.items()}
        return values

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("stats_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("completed_statuses", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(s.strip() for s in value.split(",") if s.strip())
        if not value:
            raise ValueError("needs at least one status")
        return value

    @field_validator("youtube_api_url", "tikhub_api_url", "webhook_default_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value and not value.endswith("://") else value

    @field_validator("scan_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a crontab expression: {exc}") from exc
        return value

    @field_validator("tikhub_daily_budget_usd", mode="before")
    @classmethod
    def _no_budget(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("youtube_api_key", "tikhub_api_key", "webhook_default_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # KEY= in a .env file means "no key", which turns that provider off.
        return None if value == "" else value

    @field_validator("retention_days")
    @classmethod
    def _retention_serves_the_windows(cls, value: int, info: ValidationInfo) -> int:
        # Spec section 7: retention never removes what a window still serves. Fields
        # are validated in order: the windows are declared above this one.
        if value == 0:
            return value
        catchup, settle = info.data.get("catchup_days"), info.data.get("settle_days")
        if not isinstance(catchup, int) or not isinstance(settle, int):
            return value  # a bad window is reported under its own name
        if value <= catchup or value <= settle + 1:
            raise ValueError(
                f"must be 0 or larger than CATCHUP_DAYS ({catchup}) and SETTLE_DAYS + 1"
                f" ({settle + 1})"
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.stats_timezone)


def _unquoted(value: object) -> object:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def settings_file(given: Path | None) -> Path | None:
    """The settings file a command reads: the one given (``--env-file``), else
    $DAILYSTATS_ENV_FILE (the unit sets it), else none (``./.env`` if present)."""
    if given is None and os.environ.get(ENV_FILE_VARIABLE):
        return Path(os.environ[ENV_FILE_VARIABLE])
    return given


def load_settings(env_file: Path | None = None, **overrides: object) -> Settings:
    """The settings from the environment and ``env_file`` (default: ``./.env`` if there
    is one). A named file that cannot be read is a bad setting too."""
    if env_file is not None:
        try:
            env_file.read_bytes()
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
            raise SettingsError(f"cannot read the settings file {env_file}: {problem}") from None
        overrides["_env_file"] = env_file
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        reason = "is required" if error["type"] == "missing" else error["msg"]
        reason = reason.removeprefix("Value error, ")
        problems.append(f"{name}: {reason}")
    return "bad setting " + "; ".join(problems)
