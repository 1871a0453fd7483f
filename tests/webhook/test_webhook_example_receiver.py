"""The example receiver the README shows (``examples/receiver.py``): it accepts what the
sender sends, and rejects forgeries, replays and duplicates. The README must show the
file as it is, so the two cannot drift."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from daemon.store.db import Db
from daemon.webhook.sender import create_session, deliver_due
from daemon.webhook.signing import sign_headers
from examples.receiver import RECEIVED, TOLERANCE, make_app
from tests.webhook.test_webhook_delivery import CFG, add_task, enqueue, stats

ROOT = Path(__file__).resolve().parents[2]
SECRET = "x2c-plain-secret-密钥"
BODY = b'{"site_name":"DramaRelayBot","event":"task.daily_stats","stats":[]}'


def test_the_readme_shows_the_file_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    source = (ROOT / "examples" / "receiver.py").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert source in blocks


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, web.Application]]:
    app = make_app(SECRET)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/dailystats", app
    finally:
        await runner.cleanup()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status


async def test_a_real_delivery_is_accepted_once(
    db: Db, receiver: tuple[str, web.Application]
) -> None:
    url, app = receiver
    task = await add_task(db, url, secret=SECRET)
    await stats(db, task)
    await enqueue(db)
    async with create_session(CFG) as session:
        assert (await deliver_due(db, session, CFG)).delivered == 1
    [payload] = app[RECEIVED]
    assert payload["stats"][0]["stats_date"] == "2024-12-09"

    # the sender tries the same delivery again (its claim expired): same id, new timestamp
    delivery_id = str(await db.pool.fetchval("SELECT id FROM dailystats_deliveries"))
    body = (await db.pool.fetchval("SELECT body FROM dailystats_deliveries")).encode()
    headers = sign_headers(body, delivery_id, int(time.time()), SECRET, False)
    assert await _post(url, body, headers) == 200
    assert len(app[RECEIVED]) == 1  # the duplicate changed nothing


async def test_forgeries_and_replays_are_rejected(receiver: tuple[str, web.Application]) -> None:
    url, app = receiver
    now = int(time.time())
    good = sign_headers(BODY, "msg-1", now, SECRET, False)
    assert await _post(url, BODY + b" ", good) == 401  # body changed after signing
    wrong_key = sign_headers(BODY, "msg-1", now, "another-secret", False)
    assert await _post(url, BODY, wrong_key) == 401
    # a captured request sent again later: its signature is good, its timestamp is not
    old = sign_headers(BODY, "msg-2", now - TOLERANCE - 60, SECRET, False)
    assert await _post(url, BODY, old) == 400
    # the timestamp is signed: moving it forward breaks the Standard Webhooks signature
    moved = {**old, "webhook-timestamp": str(now)}
    assert await _post(url, BODY, moved) == 401
    assert app[RECEIVED] == []
    assert await _post(url, BODY, good) == 200
    assert len(app[RECEIVED]) == 1


@pytest.mark.parametrize("secret", [SECRET, "x2cPlainSecret2024"])
def test_standard_webhooks_library_takes_a_plain_secret_as_bytes(secret: str) -> None:
    headers = sign_headers(BODY, "msg-1", int(time.time()), secret, False)
    # the raw secret's UTF-8 bytes: verified
    assert Webhook(secret.encode("utf-8")).verify(BODY, headers)["event"] == "task.daily_stats"
    # the same secret as a str is taken for base64: another key, or not even that
    with pytest.raises((WebhookVerificationError, ValueError)):
        Webhook(secret).verify(BODY, headers)
