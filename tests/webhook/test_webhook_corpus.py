"""Hostile callback URLs through a real scan and delivery pass, against a listener on
127.0.0.1 that must never hear from them (issue 9; spec section 6: a refused URL is dead
at once, with the rule that refused it).

aiohttp's own check for numeric hosts (its June-2026 fix) is switched off here, standing
for the older releases ``aiohttp>=3.9`` still allows: the guard must hold by itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date

import aiohttp
import aiohttp.connector
import pytest

from daemon.demo.fake_receiver import Reply, WebhookReceiver
from daemon.store.db import Db
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.sender import create_session, deliver_due
from tests.webhook.webhook_world import (
    MapResolver,
    add_task_with_completion,
    deliveries_by_task,
    scan,
)

DAY = date(2026, 11, 28)
MARKER = "RECEIVER-ANSWER-MUST-NOT-BE-STORED"
STRICT = DeliveryConfig(allow_private=False, timeout_seconds=3.0, concurrency=8, max_attempts=8)
DNS = {
    "evil.example": ("127.0.0.1",),
    "rebind.example": ("10.0.0.7", "127.0.0.1"),
    "metadata.example": ("169.254.169.254",),
    "v6loop.example": ("::1",),
    "mapped.example": ("::ffff:127.0.0.1",),
    "nat64.example": ("64:ff9b::7f00:1",),
    "cgnat.example": ("100.64.1.1",),
    "x2c.example": ("127.0.0.1",),
}


def corpus(port: int) -> list[tuple[str, str]]:
    """(callback URL, the rule that must refuse it); ``port`` is the listener's."""
    p = port
    loopback = [
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "127.0.1",
        "0x7f000001",
        "017700000001",
        "0x7f.0.0.1",
        "0177.0.0.01",
        "127.0x0.0.1",
        "0x7F.00.0x0.1",
        "127.000.000.001",
        "127.0.0.1.",
        "2130706433.",
        "%31%32%37.0.0.1",
        "%32%31%33%30%37%30%36%34%33%33",
        "１２７.０.０.１",
        "127。0。0。1",
        "①②⑦.⓪.⓪.①",
        "０ｘ７ｆ.１",
        "xn--8g7ccp.0.0.1",  # punycode of fullwidth "１２７"
        "127.255.255.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[64:ff9b::127.0.0.1]",
        "[2002:7f00:1::]",
    ]
    cases = [(f"http://{host}:{p}/hook", "loopback") for host in loopback]
    cases += [
        (f"http://0:{p}/hook", "unspecified"),
        (f"http://0.0.0.0:{p}/hook", "unspecified"),
        (f"http://0x0:{p}/hook", "unspecified"),
        (f"http://[::]:{p}/hook", "unspecified"),
        (f"http://10.0.0.1:{p}/hook", "private"),
        (f"http://192.168.0.1:{p}/hook", "private"),
        (f"http://172.16.0.1:{p}/hook", "private"),
        (f"http://169.254.169.254:{p}/latest/meta-data", "link-local"),
        (f"http://0xa9fea9fe:{p}/latest/meta-data", "link-local"),
        (f"http://100.64.0.1:{p}/hook", "non-public"),
        (f"http://[fe80::1]:{p}/hook", "link-local"),
        (f"http://[fc00::1]:{p}/hook", "private"),
        (f"http://224.0.0.1:{p}/hook", "multicast"),
        (f"http://255.255.255.255:{p}/hook", "private"),
        # names, judged on what the (injected) DNS answers when connecting
        (f"http://localhost:{p}/hook", "resolves-to-forbidden"),
        (f"http://LOCALHOST:{p}/hook", "resolves-to-forbidden"),
        (f"http://localhost.:{p}/hook", "resolves-to-forbidden"),
        (f"http://evil.example:{p}/hook", "resolves-to-forbidden"),
        (f"http://rebind.example:{p}/hook", "resolves-to-forbidden"),
        (f"http://metadata.example:{p}/hook", "resolves-to-forbidden"),
        (f"http://v6loop.example:{p}/hook", "resolves-to-forbidden"),
        (f"http://mapped.example:{p}/hook", "resolves-to-forbidden"),
        (f"http://nat64.example:{p}/hook", "resolves-to-forbidden"),
        (f"http://cgnat.example:{p}/hook", "resolves-to-forbidden"),
        # userinfo and backslash tricks
        (f"http://x2c.example@127.0.0.1:{p}/hook", "loopback"),
        (f"http://x2c.example:443@0x7f.1:{p}/hook", "loopback"),
        (f"http://user:pass@localhost:{p}/hook", "resolves-to-forbidden"),
        (f"http://x2c.example%40127.0.0.1:{p}/hook", "malformed-ipv4"),
        (f"http://127.0.0.1%40x2c.example:{p}/hook", "invalid-host"),
        (f"http://x2c.example\\@127.0.0.1:{p}/hook", "not-a-url"),
        (f"http://127.0.0.1:{p}\\@x2c.example/hook", "not-a-url"),
        (f"http://127.0.0.1%2f@x2c.example:{p}/hook", "resolves-to-forbidden"),
        (f"http://127.0.0.1 :{p}/hook", "invalid-host"),
        # other schemes, no scheme, no host
        (f"ftp://127.0.0.1:{p}/hook", "scheme"),
        (f"gopher://127.0.0.1:{p}/_hook", "scheme"),
        (f"ws://127.0.0.1:{p}/hook", "scheme"),
        (f"dict://127.0.0.1:{p}/hook", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("data:text/plain,hello", "scheme"),
        (f"//127.0.0.1:{p}/hook", "scheme"),
        (f"http:/127.0.0.1:{p}/hook", "no-host"),
        # ports: the database, ssh, TLS to the listener, nonsense
        ("http://127.0.0.1:5432/hook", "loopback"),
        ("http://127.0.0.1:22/hook", "loopback"),
        (f"https://127.0.0.1:{p}/hook", "loopback"),
        ("http://evil.example:0/hook", "invalid-port"),
        ("http://127.0.0.1:65536/hook", "not-a-url"),
        # numbers that are no address: refused, not looked up
        (f"http://127.0.0.1.1:{p}/hook", "malformed-ipv4"),
        (f"http://256.0.0.1:{p}/hook", "malformed-ipv4"),
        (f"http://evil.example.0x7f:{p}/hook", "malformed-ipv4"),
    ]
    return cases


@pytest.fixture
def old_aiohttp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """aiohttp as before its fix: numeric hosts of any spelling go straight to the socket."""
    monkeypatch.setattr(aiohttp.connector, "is_canonical_ipv4_address", lambda host: True)
    yield


@pytest.fixture
async def listener() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(default=Reply(200, body=MARKER)) as receiver:
        yield receiver


def _port(receiver: WebhookReceiver) -> int:
    return int(receiver.base_url.rsplit(":", 1)[1])


async def test_the_stand_in_for_old_aiohttp_really_reaches_the_listener(
    old_aiohttp: None, listener: WebhookReceiver
) -> None:
    # Without the guard, a decimal host reaches 127.0.0.1: the corpus below can fail.
    async with aiohttp.ClientSession() as session:
        url = f"http://2130706433:{_port(listener)}/unguarded"
        async with session.post(url, data=b"{}") as response:
            assert response.status == 200
    assert [r.path for r in listener.requests] == ["/unguarded"]


async def test_hostile_callbacks_reach_nothing_and_die_with_their_rule(
    old_aiohttp: None, db: Db, listener: WebhookReceiver
) -> None:
    cases = corpus(_port(listener))
    assert len(cases) >= 60
    tasks = {}
    for user, (url, rule) in enumerate(cases, start=1):
        tasks[await add_task_with_completion(db, url, DAY, secret="s", user_id=user)] = (url, rule)
    assert (await scan(db, DAY, STRICT)).deliveries_queued == len(cases)

    async with create_session(STRICT, resolver=MapResolver(DNS)) as session:
        report = await deliver_due(db, session, STRICT)

    assert listener.requests == []
    assert (report.attempted, report.dead, report.retrying) == (len(cases), len(cases), 0)
    rows = await deliveries_by_task(db)
    wrong = {}
    for task_id, (url, rule) in tasks.items():
        row = rows[task_id]
        if (row["status"], row["attempts"]) != ("dead", 1) or (
            f"refused by rule {rule}:" not in (row["last_error"] or "")
        ):
            wrong[url] = (row["status"], row["last_error"])
        assert row["last_response"] is None and row["last_status_code"] is None
    assert wrong == {}
    stored = await db.pool.fetchval(
        "SELECT count(*) FROM task_daily_stats WHERE webhook_response LIKE '%' || $1 || '%'",
        MARKER,
    )
    assert stored == 0
    # dead at once: a forced pass has nothing left to try
    async with create_session(STRICT, resolver=MapResolver(DNS)) as session:
        assert (await deliver_due(db, session, STRICT, force=True)).attempted == 0
    assert listener.requests == []


async def test_with_private_allowed_the_plain_loopback_forms_do_reach_it(
    old_aiohttp: None, db: Db, listener: WebhookReceiver
) -> None:
    port = _port(listener)
    hosts = [
        "127.0.0.1",
        "localhost",
        "evil.example",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "127.0.0.1.",
        "%31%32%37.0.0.1",
    ]
    tasks = {}
    for user, host in enumerate(hosts, start=1):
        url = f"http://{host}:{port}/{user}"
        tasks[await add_task_with_completion(db, url, DAY, secret="s", user_id=user)] = user
    allowed = replace(STRICT, allow_private=True)
    await scan(db, DAY, allowed)

    async with create_session(allowed, resolver=MapResolver(DNS)) as session:
        report = await deliver_due(db, session, allowed)

    assert report.delivered == len(hosts)
    assert sorted(r.path for r in listener.requests) == sorted(f"/{u}" for u in tasks.values())
    rows = await deliveries_by_task(db)
    assert {row["status"] for row in rows.values()} == {"delivered"}
    assert {row["last_response"] for row in rows.values()} == {MARKER}
