"""Sending: one POST (``post_delivery``) and one pass of the retry loop (``deliver_due``)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import aiohttp
import structlog
from yarl import URL

from daemon.db import Db
from daemon.retry_after import parse_retry_after
from daemon.webhook.attempt import AttemptResult
from daemon.webhook.backoff import Decision, classify, decide
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import Claimed, claim_due, pass_cutoff, record_attempt
from daemon.webhook.signing import sign_headers
from daemon.webhook.urlguard import (
    GuardedResolver,
    UrlRefused,
    check_url,
    find_refusal,
    guard_trace_config,
)

__all__ = [
    "DeliverReport",
    "DeliveryConfig",
    "create_session",
    "deliver_due",
    "post_delivery",
]

log = structlog.get_logger()

# What we keep of a response: enough to see an error message, never a whole page.
RESPONSE_READ_LIMIT = 4096
USER_AGENT = "dailystats-webhook/1"

_legacy_warned = False


def create_session(cfg: DeliveryConfig) -> aiohttp.ClientSession:
    """The session for callbacks: guarded resolver and URL check, no cookies, no env proxies.

    trust_env stays off: a proxy would resolve the callback host itself, out of the
    guard's reach. A cookie jar would let one partner's receiver set cookies sent to
    another's.
    """
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=cfg.allow_private),
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


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


# The timeout is handed to aiohttp per request (the brief's signature), hence ASYNC109.
async def post_delivery(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,  # noqa: ASYNC109
) -> AttemptResult:
    """POST ``body`` as is; never raises for network trouble, it is an AttemptResult.

    Redirects are not followed: the receiver must answer at the URL it gave (and a
    redirect could lead anywhere). ``timeout`` covers the whole exchange.
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
            raw = await response.content.read(RESPONSE_READ_LIMIT)
            return AttemptResult(
                status_code=response.status,
                response_text=_decode(raw, response.charset),
                retry_after=parse_retry_after(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                ),
                elapsed=elapsed(),
            )
    except TimeoutError:
        return AttemptResult(None, "timeout", f"no answer within {timeout:g} s", elapsed=elapsed())
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        refusal = find_refusal(exc)
        if refusal is not None:
            return AttemptResult(None, "refused-url", str(refusal), elapsed=elapsed())
        if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
            return AttemptResult(None, "refused-url", f"invalid URL: {exc}", elapsed=elapsed())
        message = str(exc) or type(exc).__name__
        return AttemptResult(None, "connection", message, elapsed=elapsed())


@dataclass(slots=True)
class DeliverReport:
    """One pass: ``failed`` = attempts without a 2xx (``retrying`` + ``dead``)."""

    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    failed: int = 0
    # sent while a newer version of the same task and day was queued; stays superseded
    superseded: int = 0
    # our lease ran out and another sender took the delivery over; nothing recorded
    lost_claims: int = 0
    # an attempt whose result could not be recorded (its claim will expire; sent again)
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _loggable(url: str) -> str:
    # Partners sometimes put tokens in the query string: log scheme, host and path only.
    try:
        return str(URL(url).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "(unparsable)"


def _warn_legacy_once(cfg: DeliveryConfig) -> None:
    global _legacy_warned
    if cfg.legacy_secret_header and not _legacy_warned:
        _legacy_warned = True
        log.warning(
            "delivery.legacy_secret_header",
            detail="WEBHOOK_LEGACY_SECRET_HEADER is on: the secret itself is sent in "
            "X-Webhook-Secret; switch X2C to signature verification and turn it off",
        )


async def _attempt(
    session: aiohttp.ClientSession, cfg: DeliveryConfig, claimed: Claimed
) -> AttemptResult:
    try:
        check_url(claimed.url, cfg.allow_private)
    except UrlRefused as exc:
        return AttemptResult(None, "refused-url", str(exc))
    body = claimed.body.encode("utf-8")
    secret = claimed.callback_secret or cfg.default_secret
    headers = sign_headers(
        body, str(claimed.id), int(time.time()), secret, cfg.legacy_secret_header
    )
    return await post_delivery(session, claimed.url, body, headers, cfg.timeout_seconds)


async def _send_one(
    session: aiohttp.ClientSession, cfg: DeliveryConfig, claimed: Claimed
) -> tuple[AttemptResult, Decision]:
    """The network half of one delivery: post it and decide what comes next."""
    result = await _attempt(session, cfg, claimed)
    decision = decide(
        classify(result.status_code, result.error_kind),
        claimed.attempts + 1,
        cfg.max_attempts,
        result.retry_after,
        datetime.now(UTC),
        random.random(),
    )
    return result, decision


async def _record_one(
    db: Db,
    claimed: Claimed,
    result: AttemptResult,
    decision: Decision,
    report: DeliverReport,
) -> None:
    """The database half: store the attempt, count it and log it."""
    fields = {
        "delivery_id": str(claimed.id),
        "task_id": claimed.task_id,
        "stats_date": claimed.stats_date.isoformat(),
    }
    report.attempted += 1
    try:
        recorded = await record_attempt(db, claimed, result, decision)
    except Exception as exc:  # one bad write must not end the pass; the claim expires
        report.errors += 1
        log.error("delivery.record_failed", error=repr(exc), outcome=result.describe(), **fields)
        return
    if recorded.lost_claim:
        report.lost_claims += 1
        log.warning("delivery.lease_lost", outcome=result.describe(), **fields)
        return
    common = {
        "attempt": claimed.attempts + 1,
        "elapsed_ms": round(result.elapsed * 1000),
        "url": _loggable(claimed.url),
        **fields,
    }
    if recorded.status == "superseded":
        report.superseded += 1
        if not result.ok:
            report.failed += 1
        log.info("delivery.superseded", outcome=result.describe(), **common)
    elif decision.status == "delivered":
        report.delivered += 1
        log.info("delivery.sent", status_code=result.status_code, **common)
    elif decision.status == "pending":
        report.retrying += 1
        report.failed += 1
        next_at = decision.next_attempt_at
        log.warning(
            "delivery.failed",
            outcome=result.describe(),
            next_attempt_at=next_at.isoformat() if next_at else None,
            **common,
        )
    else:
        report.dead += 1
        report.failed += 1
        log.error("delivery.dead", outcome=result.describe(), reason=decision.reason, **common)


async def deliver_due(
    db: Db,
    session: aiohttp.ClientSession,
    cfg: DeliveryConfig,
    force: bool = False,
) -> DeliverReport:
    """One pass of the retry loop: every due delivery (``force``: every pending one) once.

    Claims in batches while ``cfg.concurrency`` workers post; the bounded queue keeps
    claimed-but-unsent deliveries few, so none waits near the end of its lease.
    """
    _warn_legacy_once(cfg)
    report = DeliverReport()
    cutoff = await pass_cutoff(db)
    queue: asyncio.Queue[Claimed | None] = asyncio.Queue(maxsize=cfg.concurrency)
    # A worker hands its result to a write task and posts the next one at once: the
    # write overlaps the next POST instead of adding to every cycle. Bounded, so a slow
    # database slows the sending down rather than piling up results in memory.
    write_slots = asyncio.Semaphore(2 * cfg.concurrency)
    writes: set[asyncio.Task[None]] = set()

    async def write(claimed: Claimed, result: AttemptResult, decision: Decision) -> None:
        try:
            await _record_one(db, claimed, result, decision, report)
        finally:
            write_slots.release()

    async def worker() -> None:
        while (claimed := await queue.get()) is not None:
            try:
                result, decision = await _send_one(session, cfg, claimed)
            except Exception as exc:  # a bug in one delivery must not stall the queue
                report.errors += 1
                log.exception("delivery.error", delivery_id=str(claimed.id), error=repr(exc))
                continue
            await write_slots.acquire()
            task = asyncio.create_task(write(claimed, result, decision))
            writes.add(task)
            task.add_done_callback(writes.discard)

    workers = [asyncio.create_task(worker()) for _ in range(cfg.concurrency)]
    try:
        while batch := await claim_due(
            db, max(2 * cfg.concurrency, 10), cfg.lease_seconds, force, cutoff=cutoff
        ):
            for claimed in batch:
                await queue.put(claimed)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        # Attempts that happened are written even when the pass is being cancelled.
        await asyncio.gather(*writes, return_exceptions=True)
    if report.attempted:
        log.info("delivery.pass", **report.as_dict())
    return report
