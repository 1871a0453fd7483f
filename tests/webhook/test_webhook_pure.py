"""The pure webhook rules: payload bytes, signatures, retry schedule, URL guard.

Expected signatures were computed independently with openssl, e.g.
``openssl dgst -sha256 -hmac 'clé-秘密' body.bin``.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from daemon.webhook.backoff import (
    MAX_RETRY_AFTER,
    SCHEDULE,
    Decision,
    Outcome,
    classify,
    decide,
    next_delay,
)
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.payload import StatsRow, build_payload, encode_body
from daemon.webhook.signing import sign_headers, standard_key
from daemon.webhook.urlguard import GuardedResolver, UrlRefused, check_url, find_refusal
from tests.webhook.webhook_world import answer

DAY = date(2024, 12, 9)
SPEC_ROW = StatsRow(
    stats_date=DAY,
    project_id="550e8400-e29b-41d4-a716-446655440000",
    external_task_id=42,
    duration=30,
    total_account_count=15,
    total_completion_count=19,
    yt_account_count=5,
    yt_view_count=1200,
    yt_like_count=80,
    tt_account_count=6,
    dy_account_count=4,
    dy_view_count=8000,
    dy_like_count=320,
    dy_comment_count=45,
    dy_share_count=28,
    dy_collect_count=62,
)
# The spec's example, compacted by hand: this is what goes on the wire.
SPEC_BODY = (
    b'{"site_name":"DramaRelayBot","event":"task.daily_stats","stats":[{'
    b'"project_id":"550e8400-e29b-41d4-a716-446655440000","task_id":42,"duration":30,'
    b'"stats_date":"2024-12-09","account_count":15,'
    b'"yt_account_count":5,"yt_view_count":1200,"yt_like_count":80,'
    b'"tt_account_count":6,'
    b'"dy_account_count":4,"dy_view_count":8000,"dy_like_count":320,"dy_comment_count":45,'
    b'"dy_share_count":28,"dy_collect_count":62}]}'
)
SECRET = "clé-秘密"  # non-ASCII on purpose: the key is its UTF-8 bytes
MSG_ID = "msg_2b7e1516-28ae-4d2a-a6f1-abcdef012345"
TS = 1733788800
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_COUNTS = [
    f.name
    for f in fields(StatsRow)
    if f.name.endswith("_count") and f.name != "total_completion_count"
]


# ---------------------------------------------------------------- payload


def test_payload_is_the_spec_example_byte_for_byte() -> None:
    assert encode_body(build_payload(SPEC_ROW, "DramaRelayBot")) == SPEC_BODY


def test_payload_keeps_chinese_as_utf8_not_escapes() -> None:
    row = StatsRow(stats_date=DAY, total_account_count=1, tt_account_count=1)
    body = encode_body(build_payload(row, "短剧中继"))
    assert body == (
        b'{"site_name":"\xe7\x9f\xad\xe5\x89\xa7\xe4\xb8\xad\xe7\xbb\xa7",'
        b'"event":"task.daily_stats","stats":[{"stats_date":"2024-12-09",'
        b'"account_count":1,"tt_account_count":1}]}'
    )


def test_encode_body_is_deterministic_and_compact() -> None:
    payload = build_payload(SPEC_ROW, "DramaRelayBot")
    assert encode_body(payload) == encode_body(build_payload(SPEC_ROW, "DramaRelayBot"))
    assert b" " not in encode_body(payload)


def _item(**fields: Any) -> dict[str, Any]:
    row = StatsRow(stats_date=DAY, **fields)
    item: dict[str, Any] = build_payload(row, "S")["stats"][0]
    return item


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # nothing known: only the date and the total, which are always there
        ({}, {"stats_date": "2024-12-09", "account_count": 0}),
        (
            {"project_id": "p", "external_task_id": 7, "duration": 15},
            {
                "project_id": "p",
                "task_id": 7,
                "duration": 15,
                "stats_date": "2024-12-09",
                "account_count": 0,
            },
        ),
        # project_id NULL: left out, task_id kept
        (
            {"external_task_id": 7},
            {"task_id": 7, "stats_date": "2024-12-09", "account_count": 0},
        ),
        # a platform with completions but zero stats: only its account count
        (
            {"total_account_count": 2, "yt_account_count": 2},
            {"stats_date": "2024-12-09", "account_count": 2, "yt_account_count": 2},
        ),
        # a platform without completions has no field at all, whatever else is set
        (
            {"total_account_count": 1, "yt_view_count": 99, "tt_like_count": 5},
            {"stats_date": "2024-12-09", "account_count": 1},
        ),
        # zero counts are left out, positive ones kept
        (
            {
                "total_account_count": 3,
                "tt_account_count": 3,
                "tt_view_count": 0,
                "tt_like_count": 4,
                "tt_comment_count": 1,
            },
            {
                "stats_date": "2024-12-09",
                "account_count": 3,
                "tt_account_count": 3,
                "tt_like_count": 4,
                "tt_comment_count": 1,
            },
        ),
        # Douyin's share and collect only when > 0
        (
            {"total_account_count": 1, "dy_account_count": 1, "dy_collect_count": 2},
            {
                "stats_date": "2024-12-09",
                "account_count": 1,
                "dy_account_count": 1,
                "dy_collect_count": 2,
            },
        ),
        # BIGINT-sized counts go through as JSON integers
        (
            {"total_account_count": 1, "yt_account_count": 1, "yt_view_count": 2**62},
            {
                "stats_date": "2024-12-09",
                "account_count": 1,
                "yt_account_count": 1,
                "yt_view_count": 2**62,
            },
        ),
    ],
)
def test_field_presence(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    item = _item(**fields)
    assert item == expected
    assert list(item) == list(expected)  # order too


def test_total_completions_are_not_sent() -> None:
    assert "total_completion_count" not in _item(total_completion_count=9)


# ---------------------------------------------------------------- signing


def test_signature_headers_exact() -> None:
    headers = sign_headers(SPEC_BODY, MSG_ID, TS, SECRET, legacy_secret_header=False)
    assert headers == {
        "Content-Type": "application/json",
        "X-Webhook-Event": "task.daily_stats",
        "X-Webhook-Timestamp": "1733788800",
        "X-Webhook-Id": MSG_ID,
        "webhook-id": MSG_ID,
        "webhook-timestamp": "1733788800",
        "X-Webhook-Signature": (
            "sha256=068946cf725bca375d169f87972eb50bbcb211ac9e94d12d47eb04cc9a61e3a5"
        ),
        "webhook-signature": "v1,7nWmfQEOf0gASy9WpSQ6RQW8RX5U5Xssy5Qu8cWhsj0=",
    }


def test_signature_over_chinese_body() -> None:
    body = '{"site_name":"短剧中继","event":"task.daily_stats","stats":[{"stats_date":"2024-12-09","account_count":1,"tt_account_count":1}]}'.encode()  # noqa: E501
    headers = sign_headers(body, MSG_ID, TS, SECRET, legacy_secret_header=False)
    assert headers["X-Webhook-Signature"] == (
        "sha256=ed22fc96721eb25cc61b9ace6f23f6cdb78100e5464cef42df8bb3a5fcc21f37"
    )
    assert headers["webhook-signature"] == "v1,hmQEsgy4WLao9AU70xgzaarc/6EETKm3TZICDCEDtyc="


def test_whsec_secret_uses_the_decoded_key_for_standard_webhooks() -> None:
    assert standard_key(WHSEC) == bytes.fromhex("31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0")
    headers = sign_headers(SPEC_BODY, MSG_ID, TS, WHSEC, legacy_secret_header=False)
    assert headers["webhook-signature"] == "v1,b1JxBfo3RGyXnCx+0tNeK0YMCTh01AySD9sBspnKU9E="


def test_standardwebhooks_library_verifies_our_request() -> None:
    now = int(time.time())
    headers = sign_headers(SPEC_BODY, MSG_ID, now, WHSEC, legacy_secret_header=False)
    assert Webhook(WHSEC).verify(SPEC_BODY, headers) == build_payload(SPEC_ROW, "DramaRelayBot")
    # A plain X2C secret: a Standard Webhooks receiver passes its raw bytes as the key.
    plain = sign_headers(SPEC_BODY, MSG_ID, now, SECRET, legacy_secret_header=False)
    assert Webhook(SECRET.encode()).verify(SPEC_BODY, plain) is not None


def test_standardwebhooks_library_rejects_a_changed_body() -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    headers = sign_headers(SPEC_BODY, MSG_ID, int(time.time()), WHSEC, False)
    with pytest.raises(WebhookVerificationError):
        Webhook(WHSEC).verify(SPEC_BODY.replace(b"1200", b"1201"), headers)


def test_no_secret_no_signature() -> None:
    headers = sign_headers(SPEC_BODY, MSG_ID, TS, None, legacy_secret_header=True)
    assert "X-Webhook-Signature" not in headers
    assert "webhook-signature" not in headers
    assert "X-Webhook-Secret" not in headers
    assert headers["webhook-id"] == MSG_ID


@pytest.mark.parametrize("legacy", [False, True])
def test_secret_header_only_on_opt_in(legacy: bool) -> None:
    headers = sign_headers(SPEC_BODY, MSG_ID, TS, SECRET, legacy_secret_header=legacy)
    assert ("X-Webhook-Secret" in headers) is legacy
    if legacy:
        assert headers["X-Webhook-Secret"] == SECRET


def test_config_repr_hides_the_secret() -> None:
    assert "s3cret" not in repr(DeliveryConfig(default_secret="s3cret"))


# ---------------------------------------------------------------- backoff

NOW = datetime(2024, 12, 10, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts_made", "seconds"),
    [
        (0, 0),
        (1, 5),
        (2, 300),
        (3, 1800),
        (4, 7200),
        (5, 18000),
        (6, 36000),
        (7, 36000),
        (8, 36000),  # past the schedule the last step repeats
        (50, 36000),
    ],
)
def test_schedule_without_jitter(attempts_made: int, seconds: float) -> None:
    # rand = 0.5 is the middle of the jitter band: the step itself
    assert next_delay(attempts_made, 0.5) == pytest.approx(seconds)


@pytest.mark.parametrize("attempts_made", range(1, len(SCHEDULE) + 2))
@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999999])
def test_jitter_stays_within_20_percent(attempts_made: int, rand: float) -> None:
    step = SCHEDULE[min(attempts_made, len(SCHEDULE) - 1)]
    assert 0.8 * step - 1e-9 <= next_delay(attempts_made, rand) <= 1.2 * step + 1e-9


@pytest.mark.parametrize(
    ("status", "error_kind", "outcome"),
    [
        (200, None, Outcome.DELIVERED),
        (204, None, Outcome.DELIVERED),
        (299, None, Outcome.DELIVERED),
        (301, None, Outcome.FAILED),
        (302, None, Outcome.FAILED),
        (400, None, Outcome.FAILED),
        (404, None, Outcome.FAILED),
        (410, None, Outcome.GONE),
        (429, None, Outcome.THROTTLED),
        (500, None, Outcome.FAILED),
        (503, None, Outcome.THROTTLED),
        (None, "timeout", Outcome.FAILED),
        (None, "connection", Outcome.FAILED),
        (None, "refused-url", Outcome.REFUSED),
    ],
)
def test_classify(status: int | None, error_kind: str | None, outcome: Outcome) -> None:
    assert classify(status, error_kind) is outcome


def _at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("outcome", "attempts", "retry_after", "expected"),
    [
        (Outcome.DELIVERED, 1, None, Decision("delivered", "delivered")),
        (Outcome.DELIVERED, 8, None, Decision("delivered", "delivered")),
        (Outcome.FAILED, 1, None, Decision("pending", "retry", _at(5))),
        (Outcome.FAILED, 2, None, Decision("pending", "retry", _at(300))),
        (Outcome.FAILED, 7, None, Decision("pending", "retry", _at(36000))),
        (Outcome.FAILED, 8, None, Decision("dead", "exhausted")),
        (Outcome.GONE, 1, None, Decision("dead", "gone")),
        (Outcome.REFUSED, 1, None, Decision("dead", "refused")),
        # Retry-After longer than the step wins; shorter loses to the schedule
        (Outcome.THROTTLED, 1, 120.0, Decision("pending", "retry", _at(120))),
        (Outcome.THROTTLED, 3, 1.0, Decision("pending", "retry", _at(1800))),
        (Outcome.THROTTLED, 1, 10 * 86400.0, Decision("pending", "retry", _at(MAX_RETRY_AFTER))),
        # only 429/503 are throttles: a 500's Retry-After is not honoured
        (Outcome.FAILED, 1, 120.0, Decision("pending", "retry", _at(5))),
        (Outcome.THROTTLED, 8, 120.0, Decision("dead", "exhausted")),
    ],
)
def test_decide(
    outcome: Outcome, attempts: int, retry_after: float | None, expected: Decision
) -> None:
    assert decide(outcome, attempts, 8, retry_after, NOW, 0.5) == expected


# ---------------------------------------------------------------- urlguard


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.8.9.10:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://172.31.255.254/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://[fc00::5]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://[::]/hook",
        "http://224.0.0.1/hook",
        "http://[ff02::1]/hook",
        "http://240.0.0.1/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_addresses_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/hook",
        "http:///hook",
        "http://",
        "",
    ],
)
def test_not_http_or_no_host_refused_always(url: str) -> None:
    for allow in (False, True):
        with pytest.raises(UrlRefused):
            check_url(url, allow_private=allow)


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hook",
        "http://8.8.8.8:8080/x2c/callback?task=1",
        "https://[2001:4860:4860::8888]/hook",
        "https://x2c.example.com/webhook",  # names are judged when resolved
    ],
)
def test_public_addresses_allowed(url: str) -> None:
    check_url(url, allow_private=False)


class _FixedResolver(AbstractResolver):
    """Answers every name with the given addresses (a DNS that rebinds at will)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return answer(host, port, self.addresses)

    async def close(self) -> None:
        pass


async def test_resolver_drops_forbidden_addresses() -> None:
    guard = GuardedResolver(False, _FixedResolver("10.0.0.5", "93.184.216.34", "::1"))
    results = await guard.resolve("x2c.example.com", 443)
    assert [r["host"] for r in results] == ["93.184.216.34"]


@pytest.mark.parametrize("addresses", [("127.0.0.1",), ("169.254.169.254", "::ffff:10.0.0.1")])
async def test_resolver_refuses_a_name_with_only_forbidden_addresses(
    addresses: tuple[str, ...],
) -> None:
    guard = GuardedResolver(False, _FixedResolver(*addresses))
    with pytest.raises(UrlRefused) as caught:
        await guard.resolve("rebind.example.com", 80)
    assert "rebind.example.com" in str(caught.value)
    # aiohttp wraps resolver errors; the sender finds the refusal behind them
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = caught.value
    assert find_refusal(wrapped) is caught.value


async def test_resolver_allows_private_when_asked() -> None:
    guard = GuardedResolver(True, _FixedResolver("127.0.0.1"))
    assert [r["host"] for r in await guard.resolve("localhost", 80)] == ["127.0.0.1"]


def test_standard_key_plain_secret_is_utf8() -> None:
    assert standard_key(SECRET) == SECRET.encode("utf-8")
    assert standard_key("whsec_") == b"whsec_"  # nothing to decode: used as is
    assert base64.b64encode(standard_key(WHSEC)).decode() == WHSEC.removeprefix("whsec_")


# ---------------------------------------------------------------- properties

_count = st.integers(min_value=0, max_value=2**63 - 1)
_small = st.integers(min_value=0, max_value=3)


@given(
    counts=st.fixed_dictionaries(
        {name: _small if name.endswith("account_count") else _count for name in _COUNTS}
    ),
    project_id=st.none() | st.text(max_size=40),
    external_task_id=st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1),
    site_name=st.text(min_size=1, max_size=30),
)
def test_payload_rules_hold_for_any_row(
    counts: dict[str, int],
    project_id: str | None,
    external_task_id: int | None,
    site_name: str,
) -> None:
    row = StatsRow(
        stats_date=DAY, project_id=project_id, external_task_id=external_task_id, **counts
    )
    body = encode_body(build_payload(row, site_name))
    decoded = json.loads(body.decode("utf-8"))
    assert decoded["site_name"] == site_name
    [item] = decoded["stats"]
    assert item["account_count"] == counts["total_account_count"]
    assert ("project_id" in item) is (project_id is not None)
    assert ("task_id" in item) is (external_task_id is not None)
    for platform in ("yt", "tt", "dy"):
        present = {k for k in item if k.startswith(platform + "_")}
        if counts[f"{platform}_account_count"] == 0:
            assert present == set()
        else:
            assert f"{platform}_account_count" in present
            assert all(item[k] > 0 for k in present)
    assert body == encode_body(json.loads(body))  # stable through a round trip


@given(attempts=st.integers(min_value=0, max_value=200), rand=st.floats(0, 1, exclude_max=True))
def test_delay_never_shrinks_between_steps(attempts: int, rand: float) -> None:
    # the same rand draw: a later step never waits less than an earlier one
    assert next_delay(attempts, rand) <= next_delay(attempts + 1, rand)
    assert next_delay(attempts, rand) <= 1.2 * max(SCHEDULE)
