"""One pass of the retry loop (``deliver_due``); one POST is in ``post.py``."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import aiohttp
import structlog
from yarl import URL

from daemon.store.db import Db
from daemon.webhook.attempt import AttemptResult
from daemon.webhook.backoff import Decision, classify, decide
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import Claimed, claim_due, pass_cutoff, record_attempt
from daemon.webhook.post import create_session, post_delivery
from daemon.webhook.signing import receiver_for, sign_headers
from daemon.webhook.urlguard import UrlRefused, guard_url

__all__ = [
    "DeliverReport",
    "DeliveryConfig",
    "create_session",
    "deliver_due",
    "post_delivery",
]

log = structlog.get_logger()

_legacy_warned = False


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
    # sent without signature headers: a task URL without a callback_secret of its own
    unsigned: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _loggable(url: str) -> str:
    # Partners sometimes put tokens in the query string or credentials in the userinfo:
    # log scheme, host and path only.
    try:
        return str(URL(url).with_user(None).with_query(None).with_fragment(None))
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


def _receiver(claimed: Claimed, cfg: DeliveryConfig) -> tuple[Claimed, str | None] | None:
    """The delivery aimed at the receiver its task names now, and that receiver's secret
    (spec section 6: read together at each attempt); None: no receiver at all."""
    receiver = receiver_for(
        claimed.callback_url, claimed.callback_secret, cfg.default_url, cfg.default_secret
    )
    if receiver is None:
        return None
    url, source, secret = receiver
    return replace(claimed, url=url, url_source=source), secret


async def _attempt(
    session: aiohttp.ClientSession,
    cfg: DeliveryConfig,
    claimed: Claimed,
    secret: str | None,
    report: DeliverReport,
) -> AttemptResult:
    try:
        # The canonical URL: the client connects to the very address the guard judged.
        target = guard_url(claimed.url, cfg.allow_private)
    except UrlRefused as exc:
        return AttemptResult(None, "refused-url", str(exc))
    body = claimed.body.encode("utf-8")
    if secret is None:
        report.unsigned += 1
        log.warning(
            "delivery.unsigned",
            delivery_id=str(claimed.id),
            task_id=claimed.task_id,
            url_source=claimed.url_source,
        )
    headers = sign_headers(
        body, str(claimed.id), int(time.time()), secret, cfg.legacy_secret_header
    )
    return await post_delivery(session, target, body, headers, cfg.timeout_seconds)


async def _send_one(
    session: aiohttp.ClientSession, cfg: DeliveryConfig, claimed: Claimed, report: DeliverReport
) -> tuple[Claimed, AttemptResult, Decision]:
    """The network half of one delivery: aim it at the receiver its task names now,
    post it and decide what comes next. A task with no receiver left parks it dead."""
    aimed = _receiver(claimed, cfg)
    if aimed is None:
        result = AttemptResult(None, "no-receiver", "no receiver")
    else:
        claimed, secret = aimed
        result = await _attempt(session, cfg, claimed, secret, report)
    decision = decide(
        classify(result.status_code, result.error_kind),
        claimed.attempts + 1,
        cfg.max_attempts,
        result.retry_after,
        datetime.now(UTC),
        random.random(),
    )
    return claimed, result, decision


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
    stop: asyncio.Event | None = None,
) -> DeliverReport:
    """One pass of the retry loop: every due delivery (``force``: every pending one) once.

    Claims in batches while ``cfg.concurrency`` workers post; the bounded queue keeps
    claimed-but-unsent deliveries few, so none waits near the end of its lease.
    ``stop`` (the daemon's shutdown): once set, no new batch is claimed; what is in
    hand is still sent and recorded (or, when the pass is cancelled, its claim expires).
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
                claimed, result, decision = await _send_one(session, cfg, claimed, report)
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
        while not (stop is not None and stop.is_set()) and (
            batch := await claim_due(
                db, max(2 * cfg.concurrency, 10), cfg.lease_seconds, force, cutoff=cutoff
            )
        ):
            for claimed in batch:
                await queue.put(claimed)
        if stop is not None and stop.is_set():
            log.info("delivery.stopping", detail="no new claims; finishing those in hand")
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
