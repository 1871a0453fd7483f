"""Backoff, Retry-After, and the one request helper every provider goes through."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from daemon.fetch.breaker import Breaker, ProviderStopped
from daemon.fetch.context import FetchContext
from daemon.rules.retry_after import parse_retry_after

# 2**62 already exceeds any sane cap; bounding the exponent avoids float overflow.
_MAX_EXPONENT = 62


def backoff_delay(
    attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)).

    ``attempt`` is 0 for the first retry. Full jitter spreads the retries of many
    concurrent requests that failed together (a 5xx burst, a 429) instead of
    sending them back in lockstep.
    """
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    ceiling = min(cap, base * float(2**exponent))
    return max(0.0, ceiling * rand())


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A response already read (or released) so the connection and the slot are free."""

    status: int
    headers: CIMultiDict[str]
    body: bytes


class TransportError(Exception):
    """Timeouts or connection errors that outlasted the retries."""


def _retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _redact(text: str, secrets: Sequence[str]) -> str:
    # Error strings end up in logs and in the database: never let a key through.
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def _pause(delay: float, breaker: Breaker | None) -> None:
    """Sleep before a retry; wake early when the provider is switched off meanwhile."""
    if breaker is None:
        await asyncio.sleep(delay)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(breaker.wait(), timeout=delay)


async def _send_once(
    ctx: FetchContext,
    endpoint: str,
    method: str,
    url: str | URL,
    *,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    ids: int,
    breaker: Breaker | None,
    read_body: bool,
    json_body: object = None,
) -> HttpReply:
    async def take_slot() -> None:
        if breaker is not None:
            breaker.check()
        await ctx.semaphore.acquire()
        if breaker is not None and breaker.tripped:
            # It may have tripped while this call waited for a slot.
            ctx.semaphore.release()
            breaker.check()

    limiter = ctx.limiters.get(endpoint)
    # The rate limiter turn comes first and the slot is taken inside it, so a
    # throttled endpoint never sits on slots other providers could use.
    if limiter is not None:
        await limiter.acquire(take_slot)
    else:
        await take_slot()
    try:
        ctx.counters.calls[endpoint] += 1
        ctx.counters.ids[endpoint] += ids
        async with ctx.session.request(
            method,
            url,
            params=params,
            headers=headers,
            json=json_body,
            allow_redirects=False,
            timeout=ctx.timeout,
        ) as resp:
            # Without read_body the response is released unread on exit, which
            # closes the connection instead of downloading a page nobody needs.
            body = await resp.read() if read_body else b""
            return HttpReply(resp.status, CIMultiDict(resp.headers), body)
    finally:
        ctx.semaphore.release()


async def request_with_retries(
    ctx: FetchContext,
    endpoint: str,
    method: str,
    url: str | URL,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    ids: int = 0,
    breaker: Breaker | None = None,
    read_body: bool = True,
    secrets: Sequence[str] = (),
    json_body: object = None,
) -> HttpReply:
    """One logical request: retried on timeouts, connection errors, 429 and 5xx.

    Returns the last reply, whatever its status (4xx other than 429 is never
    retried: asking again would get the same answer). Raises ``TransportError``
    when timeouts or connection errors outlast ``max_retries``, and
    ``ProviderStopped`` when ``breaker`` trips before a request goes out.
    Redirects are never followed here (the resolver follows them itself).
    """
    config = ctx.config
    attempt = 0
    while True:
        if attempt:
            ctx.counters.retries[endpoint] += 1
        try:
            reply = await _send_once(
                ctx,
                endpoint,
                method,
                url,
                params=params,
                headers=headers,
                ids=ids,
                breaker=breaker,
                read_body=read_body,
                json_body=json_body,
            )
        except ProviderStopped:
            raise
        except aiohttp.InvalidURL as exc:
            # A malformed URL stays malformed: no point retrying.
            raise TransportError(_redact(f"invalid url: {exc}", secrets)) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            if attempt >= config.max_retries:
                detail = str(exc) or "timed out"
                message = f"{type(exc).__name__}: {detail} (after {attempt + 1} attempts)"
                raise TransportError(_redact(message, secrets)) from None
            delay = backoff_delay(attempt, config.backoff_base_seconds, config.backoff_cap_seconds)
        else:
            if not _retryable_status(reply.status) or attempt >= config.max_retries:
                return reply
            retry_after = parse_retry_after(reply.headers.get("Retry-After"))
            if retry_after is not None:
                delay = min(retry_after, config.retry_after_cap_seconds)
            else:
                delay = backoff_delay(
                    attempt, config.backoff_base_seconds, config.backoff_cap_seconds
                )
        await _pause(delay, breaker)
        attempt += 1
