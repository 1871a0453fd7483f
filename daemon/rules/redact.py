"""One redaction mechanism for every place a secret could leave the process.

Log lines (a structlog processor), tracebacks, one-line CLI errors, ``--json`` reports
and the error and response text stored in the database all go through
:func:`redact_text` / :func:`redact_value`. Two layers:

- the configured secrets themselves (API keys, webhook secret, the database password,
  registered at the edge with :func:`register_settings` / :func:`register`), masked
  wherever they appear, and
- shapes that carry a secret whatever its value: ``scheme://user:PASSWORD@``,
  ``password=``/``key=``/``secret=``/``token=`` pairs (libpq DSNs, query strings such as
  YouTube's ``?key=``), and ``Authorization``/``X-API-Key``/``X-Webhook-Secret`` header
  values, so a secret this process was never told about (another task's
  ``callback_secret``, a DSN in a library's error) is still caught by its context.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from daemon.settings import Settings

MASK = "***"
# Shorter values are not masked by value: masking every "ab" would garble the logs and a
# secret that short protects nothing. The patterns below still catch them in context.
MIN_SECRET_LENGTH = 4

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]*@")
_PAIR = re.compile(
    r"(?P<head>(?<![A-Za-z0-9_-])(?:password|passwd|pwd|key|api_key|apikey|api-key|secret|"
    r"callback_secret|token|access_token|sslpassword)['\"]?\s*[=:]\s*['\"]?)"
    r"(?P<value>[^\s&'\",;)}]+)",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"(?P<head>(?:authorization|proxy-authorization|x-api-key|x-webhook-secret|cookie)"
    r"['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|token)\s+)?)(?P<value>[^\s'\",;)}]+)",
    re.IGNORECASE,
)

_SECRET_FIELD = re.compile(
    r"(?:\w*_)?(?:password|passwd|secret|api_key|apikey|token|authorization|key)", re.IGNORECASE
)

# PostgreSQL's "DETAIL: Key (task_id, callback_secret)=(7, s3cret) already exists".
_KEY_DETAIL = re.compile(
    r"(?P<head>\((?:[^()]*,\s*)?\w*(?:secret|password|token|key)\w*(?:,[^()]*)?\)=\()"
    r"(?P<value>[^)]*)",
    re.IGNORECASE,
)

_lock = threading.Lock()
_known: tuple[str, ...] = ()


def register(*secrets: str | SecretStr | None) -> None:
    """Mask these values from now on, everywhere (process-wide, idempotent)."""
    global _known
    values = set(_known)
    for secret in secrets:
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if raw and len(raw) >= MIN_SECRET_LENGTH:
            values.add(raw)
    if len(values) == len(_known):  # nothing new: the common case on every claim
        return
    with _lock:
        # Longest first, so a secret containing another is masked whole.
        _known = tuple(sorted(values, key=len, reverse=True))


def forget_all() -> None:
    """Tests only: start again with no registered secrets."""
    global _known
    with _lock:
        _known = ()


def dsn_secrets(dsn: str) -> list[str]:
    """The password of a PostgreSQL URL, as written and percent-decoded, and any
    ``password=`` in its query string."""
    found: list[str] = []
    try:
        parts = urlsplit(dsn)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        for value in parse_qs(parts.query).get("password", []):
            found.append(value)
    except ValueError:  # not a URL we can read: the patterns still apply
        pass
    return found


def register_settings(settings: Settings) -> None:
    """Every secret the settings hold: called once at the edge, before any logging."""
    register(
        settings.youtube_api_key,
        settings.tikhub_api_key,
        settings.webhook_default_secret,
        *dsn_secrets(settings.database_url.get_secret_value()),
    )


def redact_text(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", text)
    text = _KEY_DETAIL.sub(lambda m: m["head"] + MASK, text)
    text = _PAIR.sub(lambda m: m["head"] + MASK, text)
    return _HEADER.sub(lambda m: m["head"] + MASK, text)


def redact_value(value: Any) -> Any:
    """Strings masked inside any JSON-like structure; other objects are turned into
    their text first (an exception, a URL object), since their text is what gets out."""
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    return redact_text(str(value))


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, redacted: for error columns and CLI errors
    (asyncpg and aiohttp put DSNs, URLs and headers in their messages)."""
    message = " ".join(str(exc).split())
    return redact_text(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def one_line(exc: BaseException) -> str:
    """The message alone on one line (the type when there is none), redacted."""
    return redact_text(" ".join(str(exc).split()) or type(exc).__name__)


def redact_event(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> dict[str, Any]:
    """structlog processor: runs after tracebacks are rendered, before the renderer.
    A field named like a secret (``api_key=...``) is masked whatever its value."""
    return {
        key: MASK if _SECRET_FIELD.fullmatch(key) and value else redact_value(value)
        for key, value in event_dict.items()
    }
