"""Logging, configured once at the edge: JSON lines in production, readable on a terminal.

One handler on the root logger renders everything with structlog's ProcessorFormatter
(structlog docs, "Standard Library Logging: Rendering Using structlog-based Formatters
Within logging"): structlog's own events, the standard library's records (APScheduler,
aiohttp, asyncpg, asyncio's "exception was never retrieved", the fetchers'
``logging.getLogger(__name__)`` warnings), ``warnings`` (captureWarnings) and uncaught
exceptions (sys.excepthook, threading.excepthook). Every line goes through
:func:`daemon.rules.redact.redact_event` after its traceback is rendered; JSON tracebacks leave
out frame locals (``ExceptionDictTransformer(show_locals=False)``), where secrets live.

Logs go to stderr; stdout is kept for the ``--json`` reports of the commands.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import structlog

from daemon.rules.redact import redact_event, redact_text

LogFormat = Literal["json", "console"]
LIBRARY_LOGGERS = ("apscheduler", "aiohttp", "asyncpg")


def choose_format(log_format: str | None, stream: IO[str] | None = None) -> LogFormat:
    """``json``/``console`` as asked; anything else (unset, or a bad LOG_FORMAT when
    reporting that very error) is console on a terminal and JSON otherwise."""
    if log_format in ("json", "console"):
        return log_format  # type: ignore[return-value]
    return "console" if (stream or sys.stderr).isatty() else "json"


def _exception_renderer(log_format: LogFormat) -> structlog.typing.Processor:
    if log_format == "json":
        return structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
    return structlog.processors.format_exc_info  # plain text, never locals


def configure_logging(
    log_format: str | None = None, level: str = "INFO", *, stream: IO[str] | None = None
) -> None:
    out = stream or sys.stderr
    fmt = choose_format(log_format, out)
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        if fmt == "console"
        else structlog.processors.JSONRenderer(default=str)
    )
    # What every event gets, whether it came through structlog or the standard library.
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _exception_renderer(fmt),
            redact_event,  # after the traceback is text, before anything is written
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):  # configured once; a second call replaces, not adds
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The libraries' INFO lines ("Adding job tentatively", pool chatter) are noise in an
    # operator's log: their warnings and errors only, all of it with LOG_LEVEL=DEBUG.
    libraries = logging.NOTSET if level == "DEBUG" else logging.WARNING
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(libraries)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    structlog.get_logger("daemon").critical("uncaught_exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    structlog.get_logger("daemon").critical(
        "uncaught_exception",
        thread=args.thread.name if args.thread else None,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def requested_format(env_file: Path | None = None) -> str | None:
    """LOG_FORMAT as given (environment or ``.env``, like every setting), read on its own:
    for reporting a bad setting before the settings as a whole are valid."""
    from pydantic_settings import BaseSettings

    from daemon.settings import Settings

    class LogFormatOnly(BaseSettings):
        model_config = Settings.model_config
        log_format: str | None = None

    try:
        only = LogFormatOnly(_env_file=env_file) if env_file else LogFormatOnly()  # type: ignore[call-arg]
        value = only.log_format
    except Exception:  # an unreadable .env: the choice falls back to the terminal test
        return None
    return value.strip().lower() if value else None


def startup_error(message: str, log_format: str | None) -> str:
    """The line ``dailystats run`` writes when it cannot start (a bad setting): before
    logging is configured, so rendered here, redacted, in the format asked for (or the
    one :func:`choose_format` picks when LOG_FORMAT itself is the bad setting)."""
    message = redact_text(message)
    if choose_format(log_format) == "console":
        return f"dailystats: {message}"
    return json.dumps(
        {
            "event": "settings.invalid",
            "error": message,
            "level": "error",
            "logger": "daemon.cli",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
        ensure_ascii=False,
    )
