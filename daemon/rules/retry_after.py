"""Retry-After (RFC 9110 section 10.2.3), read the same way for the video APIs and X2C."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait: delta-seconds (digits only) or an HTTP-date, a past date being 0.

    Anything else is None, and the caller falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP-dates are GMT by definition
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
