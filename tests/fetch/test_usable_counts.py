"""A usable count (spec section 3), in SQL (``dailystats_usable(jsonb)``) and in Python
(``usable_count``): both must read every JSON value alike."""

from __future__ import annotations

import json
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.fetch import usable_count

MAX = 2**63 - 1

# JSON text of one count -> the count it is (None: no data).
CASES: list[tuple[str, int | None]] = [
    ("0", 0),
    ("12", 12),
    ("100000.0", 100000),
    ("1e5", 100000),
    ("1E+2", 100),
    ("0.0e3", 0),
    ("12.000", 12),
    ("-0", 0),
    ("-0.0", 0),
    ('"00012"', 12),
    ("123456789012345678", 123456789012345678),  # 18 digits: the short way (0023)
    ("1234567890123456789", 1234567890123456789),  # 19: the full rule
    ('"000000000000000000012"', 12),  # 21 characters, leading zeros
    (f'"0000{MAX}"', MAX),
    (f'"0000{MAX + 1}"', None),
    ('"12"', 12),
    (str(MAX), MAX),
    (f"{MAX}.0", MAX),
    ("9.223372036854775807e18", MAX),
    (f'"{MAX}"', MAX),
    (str(MAX + 1), None),
    (f'"{MAX + 1}"', None),
    ("9.3e18", None),
    ("1e400", None),
    ("1.5", None),
    ("12.50", None),
    ("1e-2", None),
    ("-1", None),
    ("-1e5", None),
    ("true", None),
    ("false", None),
    ("null", None),
    ('"1e5"', None),
    ('" 12"', None),
    ('"12 "', None),
    ('""', None),
    ('"-3"', None),
    ('"12.0"', None),
    ('"١٢"', None),
    ("[1]", None),
    ('{"n": 1}', None),
]


def python_count(text: str) -> int | None:
    # parse_float=Decimal: the number exactly as written, as PostgreSQL reads it.
    return usable_count(json.loads(text, parse_float=Decimal))


async def sql_count(conn: asyncpg.Connection, text: str) -> int | None:
    value: int | None = await conn.fetchval("SELECT dailystats_usable($1::jsonb)", text)
    return value


async def scan_count(conn: asyncpg.Connection, text: str) -> int | None:
    """The scan's two-argument form: the count as text (jsonb_to_record) and as JSON."""
    value: int | None = await conn.fetchval(
        "SELECT dailystats_usable(x.view_count, d -> 'view_count')"
        " FROM (SELECT $1::jsonb AS d) s,"
        " jsonb_to_record(s.d) AS x(view_count text)",
        '{"view_count": ' + text + "}",
    )
    return value


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_python_reads_each_case(text: str, expected: int | None) -> None:
    assert python_count(text) == expected


async def test_sql_and_python_agree_on_every_case(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        for text, expected in CASES:
            assert await sql_count(conn, text) == expected, text
        # In the saved details, as the scan reads them.
        for text, expected in CASES:
            got = await conn.fetchval(
                "SELECT dailystats_usable(x.view_count)"
                " FROM jsonb_to_record($1::jsonb) AS x(view_count jsonb)",
                '{"view_count": ' + text + "}",
            )
            assert got == expected, text
    finally:
        await conn.close()


_mantissa = st.integers(min_value=-(10**20), max_value=10**20)
_numbers = st.builds(
    lambda m, frac, exp: f"{m}{frac}{exp}",
    _mantissa,
    st.sampled_from(["", ".0", ".00", ".5", ".25", ".000001"]),
    st.sampled_from(["", "e0", "e1", "e5", "E+2", "e-1", "e-3", "e18", "e19", "e400"]),
)
_texts = st.one_of(
    _numbers,
    st.integers(min_value=MAX - 5, max_value=MAX + 5).map(str),
    st.text(alphabet="0123456789 e.-+", max_size=12).map(json.dumps),
    # Digit strings around the 18 digits the scan's short way takes (migration 0023).
    st.text(alphabet="0123456789", max_size=24).map(json.dumps),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_texts)
async def test_sql_and_python_agree_on_generated_numbers(db_url: str, text: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        expected = python_count(text)
        assert await sql_count(conn, text) == expected
        assert await scan_count(conn, text) == expected
    finally:
        await conn.close()


async def test_the_scans_two_argument_form_agrees(db_url: str) -> None:
    """The scan passes the count as text (jsonb_to_record) and as its JSON value."""
    conn = await asyncpg.connect(db_url)
    try:
        for text, expected in CASES:
            assert await scan_count(conn, text) == expected, text
    finally:
        await conn.close()
