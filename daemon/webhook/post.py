"""One POST to a receiver: the guarded session and the exchange, as a plain result.

The status line decides (spec section 6: any 2xx within the timeout is delivered). The
body is only kept for operators, so it is read bounded (``RESPONSE_READ_LIMIT``) and
briefly (``BODY_READ_SECONDS``): a receiver that trickles its body, or never ends it,
has still answered 2xx, and must not be counted as a timeout and sent again.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from daemon.rules.retry_after import parse_retry_after
from daemon.webhook.attempt import AttemptResult
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.urlguard import GuardedResolver, UrlRefused, find_refusal, guard_trace_config

# What we keep of a response: enough to see an error message, never a whole page.
RESPONSE_READ_LIMIT = 4096
# How long the body may take after the headers; the outcome is known already.
BODY_READ_SECONDS = 2.0
USER_AGENT = "dailystats-webhook/1"


def create_session(
    cfg: DeliveryConfig, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """The session for callbacks: guarded resolver and URL check, no cookies, no env proxies.

    trust_env stays off: a proxy would resolve the callback host itself, out of the
    guard's reach. A cookie jar would let one partner's receiver set cookies sent to
    another's. ``resolver``: the DNS behind the guard (tests inject one).
    """
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=cfg.allow_private, inner=resolver),
        limit=cfg.concurrency,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=cfg.timeout_seconds),
        trace_configs=[guard_trace_config(cfg.allow_private)],
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


def decode_response(raw: bytes, charset: str | None) -> str:
    try:
        text = raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    # PostgreSQL text cannot hold NUL; a receiver's NUL must not make the record fail.
    return text.replace("\0", "\ufffd")


async def read_start(
    content: aiohttp.StreamReader,
    limit: int = RESPONSE_READ_LIMIT,
    seconds: float = BODY_READ_SECONDS,
) -> bytes:
    """At most ``limit`` bytes of a body, for at most ``seconds``; whatever came by then."""
    received = bytearray()
    try:
        async with asyncio.timeout(seconds):
            while len(received) < limit:
                chunk = await content.read(limit - len(received))
                if not chunk:
                    break
                received += chunk
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass  # the status line decided already; the body is only a note
    return bytes(received)


# The timeout is handed to aiohttp per request (the brief's signature), hence ASYNC109.
async def post_delivery(
    session: aiohttp.ClientSession,
    url: str | URL,
    body: bytes,
    headers: dict[str, str],
    timeout: float,  # noqa: ASYNC109
    *,
    body_seconds: float = BODY_READ_SECONDS,
) -> AttemptResult:
    """POST ``body`` as is; never raises for network trouble, it is an AttemptResult.

    Redirects are not followed: the receiver must answer at the URL it gave (and a
    redirect could lead anywhere). ``timeout`` runs until the status line and headers
    have arrived; the body then gets ``body_seconds`` more at most.
    """
    started = time.monotonic()

    def elapsed() -> float:
        return time.monotonic() - started

    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            status, answered = response.status, elapsed()
            raw = await read_start(response.content, seconds=body_seconds)
            return AttemptResult(
                status_code=status,
                response_text=decode_response(raw, response.charset),
                retry_after=parse_retry_after(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                ),
                elapsed=answered,
            )
    except TimeoutError:
        return AttemptResult(None, "timeout", f"no answer within {timeout:g} s", elapsed=elapsed())
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        refusal = find_refusal(exc)
        if refusal is not None:
            return AttemptResult(None, "refused-url", str(refusal), elapsed=elapsed())
        if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
            refused = UrlRefused("invalid-url", f"the client cannot call it: {exc}")
            return AttemptResult(None, "refused-url", str(refused), elapsed=elapsed())
        message = str(exc) or type(exc).__name__
        return AttemptResult(None, "connection", message, elapsed=elapsed())
