"""A real X2C-like webhook receiver on 127.0.0.1, for integration tests, benchmarks and the demo.

It verifies both signatures from the raw body it received (independently of
``daemon.webhook.signing``, so a signing bug shows up here), records every request, and
answers as scripted: a sequence of replies (status, Retry-After, a hang longer than the
sender's timeout, latency), per path or for any path, then a default reply.

    async with WebhookReceiver(secret="s3cret") as rx:
        rx.script(Reply(500), Reply(200))
        url = rx.url("/hook")
        ...
        assert rx.requests[0].signature_ok
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

# Standard Webhooks receivers reject timestamps further than this from their clock.
TIMESTAMP_TOLERANCE = 300


@dataclass(frozen=True, slots=True)
class Reply:
    """How to answer one request."""

    status: int = 200
    retry_after: str | None = None
    # Hold the request this long before answering; closing the receiver releases it.
    # Longer than the sender's timeout, it is a timeout.
    hang: float = 0.0
    # Extra delay before answering; None: the receiver's default latency.
    latency: float | None = None
    body: str = '{"ok":true}'
    location: str | None = None  # for 3xx replies


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    delivery_id: str | None
    # None: no secret configured for that path, nothing to verify against.
    signature_ok: bool | None
    standard_ok: bool | None
    status: int  # what the receiver answered (or meant to, if the sender gave up first)
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _standard_key(secret: str) -> bytes:
    # The Standard Webhooks convention: "whsec_<base64>" is a base64 key; other secrets
    # (X2C's plain ones) are taken as their UTF-8 bytes, as the sender documents.
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[6:] + "==")
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode("utf-8")


def verify_x2c(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(header[len("sha256=") :], _hmac_hex(secret, body))


def verify_standard(
    secret: str, body: bytes, headers: dict[str, str], now: float | None = None
) -> bool:
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    timestamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not (msg_id and timestamp and signatures and timestamp.isdigit()):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return True
    return False


@dataclass
class _State:
    scripts: dict[str | None, deque[Reply]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


class WebhookReceiver:
    """One aiohttp server on 127.0.0.1 (a free port); every path is a webhook endpoint."""

    def __init__(
        self,
        secret: str | None = None,
        *,
        latency: float = 0.0,
        default: Reply | None = None,
    ) -> None:
        self.secret = secret
        self.latency = latency
        self.default = default or Reply()
        self.requests: list[ReceivedRequest] = []
        self._state = _State()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- programming it

    def script(self, *replies: Reply, path: str | None = None) -> None:
        """Answer the next requests (to ``path``, or to any path) with ``replies`` in order."""
        self._state.scripts.setdefault(path, deque()).extend(replies)

    def statuses(self, *codes: int, path: str | None = None) -> None:
        """Shorthand: the next requests get these status codes."""
        self.script(*(Reply(code) for code in codes), path=path)

    def set_secret(self, path: str, secret: str | None) -> None:
        """Verify requests to ``path`` with their own secret (None: verify nothing)."""
        if secret is None:
            self._state.secrets.pop(path, None)
        else:
            self._state.secrets[path] = secret

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    # -- reading what it saw

    def ids(self) -> list[str | None]:
        return [r.delivery_id for r in self.requests]

    def delivered_counts(self) -> Counter[str]:
        """How many 2xx answers each delivery id got."""
        return Counter(
            r.delivery_id
            for r in self.requests
            if r.delivery_id is not None and 200 <= r.status < 300
        )

    def duplicates(self) -> dict[str, int]:
        """Delivery ids answered 2xx more than once: what a receiver would have to drop."""
        return {k: n for k, n in self.delivered_counts().items() if n > 1}

    # -- serving

    def _next_reply(self, path: str) -> Reply:
        for key in (path, None):
            queue = self._state.scripts.get(key)
            if queue:
                return queue.popleft()
        return self.default

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.read()
        headers = dict(request.headers)
        path = request.path
        secret = self._state.secrets.get(path, self.secret)
        reply = self._next_reply(path)
        self.requests.append(
            ReceivedRequest(
                path=path,
                headers=headers,
                body=body,
                delivery_id=request.headers.get("X-Webhook-Id"),
                signature_ok=None
                if secret is None
                else verify_x2c(secret, body, request.headers.get("X-Webhook-Signature")),
                standard_ok=None if secret is None else verify_standard(secret, body, headers),
                status=reply.status,
                at=arrived,
            )
        )
        if reply.hang > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.hang)
        latency = self.latency if reply.latency is None else reply.latency
        if latency > 0:
            await asyncio.sleep(latency)
        out_headers = {}
        if reply.retry_after is not None:
            out_headers["Retry-After"] = reply.retry_after
        if reply.location is not None:
            out_headers["Location"] = reply.location
        return web.Response(
            status=reply.status,
            text=reply.body,
            content_type="application/json",
            headers=out_headers,
        )

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a hanging handler stops when the sender gives up.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
