from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.rules.retry_after import parse_retry_after

NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # in the past: now
        ("Wed, 21 Oct 2015 07:28:00 -0000", 60.0),  # no zone named: GMT
        ("-5", None),
        ("1.5", None),
        ("1e3", None),
        ("inf", None),
        ("soon", None),
        ("Wed, 99 Foo 2015", None),
        ("٣", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds
