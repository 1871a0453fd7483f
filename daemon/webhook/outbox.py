"""The durable outbox: queue payload versions, claim due ones, record attempts, replay dead ones.

Every state change is one row update in ``dailystats_deliveries`` (SQL in
``daemon/webhook/queries.sql``), so a crash at any point leaves a state the
next pass can continue from: a claim simply expires.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import structlog

from daemon.rules.redact import redact_text, register
from daemon.store.db import Db, Tx
from daemon.webhook.attempt import AttemptResult
from daemon.webhook.backoff import Decision
from daemon.webhook.config import DeliveryConfig
from daemon.webhook.nodes import counted_row, node_row
from daemon.webhook.payload import StatsRow, build_payload, encode_body

log = structlog.get_logger()

# The seed's webhook_response column is read by admin pages: keep it short.
STATS_RESPONSE_LIMIT = 1000
DELIVERY_RESPONSE_LIMIT = 4096
ERROR_LIMIT = 1000
STATUSES = ("pending", "delivered", "dead", "superseded")
# Stats rows read and queued at a time by enqueue_deliveries.
PAGE = 1_000


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this sender holds until ``record_attempt`` (or until the lease runs out)."""

    id: uuid.UUID
    task_id: int
    stats_date: date
    url: str
    body: str
    attempts: int
    claim_token: uuid.UUID
    # drama_tasks.callback_url and callback_secret read together at claim time, i.e.
    # just before sending: the receiver the task names at this attempt.
    callback_secret: str | None = field(default=None, repr=False)
    callback_url: str | None = None
    # Whose URL ``url`` is: "task" (its own callback_url) or "default" (the setting's).
    url_source: str = "task"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What ``record_attempt`` wrote. ``lost_claim``: another sender holds the delivery now,
    so nothing was written."""

    status: str | None
    attempts: int | None
    stats_updated: bool
    lost_claim: bool = False


@dataclass(frozen=True, slots=True)
class ReplayRefusal:
    delivery_id: uuid.UUID | None
    reason: str


@dataclass(frozen=True, slots=True)
class ReplayReport:
    replayed: list[uuid.UUID]
    refused: list[ReplayRefusal]


def stats_row(record: Any, stats_date: date, nodes: tuple[StatsRow, ...] | None = None) -> StatsRow:
    """A StatsRow from a deliveries_stage_candidates row (``nodes``: its split, when sent)."""
    return counted_row(
        record,
        stats_date,
        project_id=record["project_id"],
        external_task_id=record["external_task_id"],
        duration=record["duration"],
        nodes=nodes,
    )


async def enqueue_deliveries(
    tx: Tx, stats_date: date, cfg: DeliveryConfig, task_ids: Sequence[int] | None = None
) -> int:
    """Queue a delivery for every stats row of ``stats_date`` (of ``task_ids`` only, when
    given: the only rows a partial aggregation wrote) whose payload changed.

    Call it inside the scan's transaction, after the day's rows are upserted: the rows
    and their deliveries commit together or not at all. The rows, with their latest
    delivery, are staged in a temporary table before any is queued, then read and
    queued a page at a time, so memory holds a page of payloads however many tasks the
    day has. Returns how many were queued.
    """
    tasks = None if task_ids is None else list(task_ids)
    await tx.execute("deliveries_stage_candidates", stats_date, cfg.include_nodes, tasks)
    await tx.execute("deliveries_index_staged")
    queued, after = 0, -(2**31)  # below every task id (INTEGER)
    # Rows are asyncpg Records, read by column name (typed Any: asyncpg has no stubs).
    while rows := await tx.fetch("deliveries_staged_page", after, PAGE):
        queued += await _queue_changed(tx, stats_date, rows, cfg)
        after = rows[-1]["task_id"]
    await tx.execute("deliveries_drop_staged")
    if queued:
        log.info("delivery.queued", stats_date=stats_date.isoformat(), count=queued)
    return queued


async def _queue_changed(tx: Tx, stats_date: date, rows: list[Any], cfg: DeliveryConfig) -> int:
    """Queue the rows of one page whose body differs from their latest delivery's."""
    task_ids: list[int] = []
    urls: list[str] = []
    bodies: list[str] = []
    sources: list[str] = []
    for row in rows:
        # A URL and its secret go together: remember whose URL this is (spec section 6).
        url, source = row["callback_url"], "task"
        if not url:
            url, source = cfg.default_url, "default"
        if not url:
            continue  # no URL: the row is saved, nothing is sent
        # The split on the wire (spec section 9): a change in it alone is a changed payload.
        split = None
        if cfg.include_nodes:
            split = tuple(node_row(n, stats_date) for n in json.loads(row["nodes"]))
        payload = build_payload(stats_row(row, stats_date, split), cfg.site_name)
        body = encode_body(payload).decode()
        # Same bytes: X2C already has (or will get) exactly this. A changed URL or secret
        # alone is not a changed payload; a waiting delivery reads the receiver anew at
        # each attempt (spec section 6).
        if row["latest_body"] == body:
            continue
        task_ids.append(row["task_id"])
        urls.append(url)
        bodies.append(body)
        sources.append(source)
    if not task_ids:
        return 0
    # Stats rows before delivery rows, the order the sender locks them in (no deadlock).
    await tx.execute("deliveries_reset_stats_webhook", stats_date, task_ids)
    # Supersede first: at most one pending version per task and day (unique index).
    await tx.execute("deliveries_supersede_pending", stats_date, task_ids)
    await tx.execute("deliveries_insert", stats_date, task_ids, urls, bodies, sources)
    return len(task_ids)


async def pass_cutoff(db: Db) -> datetime:
    """The database's clock, taken at the start of a pass (see deliveries_claim)."""
    value: datetime = await db.fetchval("deliveries_clock")
    return value


async def claim_due(
    db: Db,
    limit: int,
    lease_seconds: float,
    force: bool = False,
    *,
    cutoff: datetime | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries (``force``: every pending one) for ``lease_seconds``.

    SKIP LOCKED lets several senders claim side by side without waiting or overlapping.
    ``cutoff``: only deliveries not touched since then (one pass tries each at most once).
    """
    rows: list[Any] = await db.fetch("deliveries_claim", limit, float(lease_seconds), force, cutoff)
    # A task's own secret is masked in every log line and stored text from now on.
    register(*(row["callback_secret"] for row in rows))
    return [
        Claimed(
            id=row["id"],
            task_id=row["task_id"],
            stats_date=row["stats_date"],
            url=row["url"],
            body=row["body"],
            attempts=row["attempts"],
            claim_token=row["claim_token"],
            callback_secret=row["callback_secret"],
            callback_url=row["callback_url"],
            url_source=row["url_source"],
        )
        for row in rows
    ]


def _cut(text: str | None, limit: int) -> str | None:
    # Redacted before it is cut, so no cut can leave part of a secret behind; PostgreSQL
    # text cannot hold NUL, so a receiver answering one must not fail the record.
    return None if text is None else redact_text(text)[:limit].replace("\0", "\ufffd")


async def record_attempt(
    db: Db, claimed: Claimed, result: AttemptResult, decision: Decision
) -> Recorded:
    """Store one attempt and its decision, and mirror it into task_daily_stats.

    Shielded: when the pass is cancelled (shutdown) while this write is under way, the
    write still completes, so an attempt that happened is never forgotten.
    """
    return await asyncio.shield(_record(db, claimed, result, decision))


async def _record(db: Db, claimed: Claimed, result: AttemptResult, decision: Decision) -> Recorded:
    error = None if result.ok else result.describe()
    # Only a receiver that answered has an answer to keep; a refused host has none.
    response = result.response_text if result.status_code is not None else None
    stats_response = response if result.status_code is not None else error
    async with db.transaction() as tx:
        # The stats row first, then the delivery: the scan's order (see queries.sql).
        await tx.execute("deliveries_lock_stats_row", claimed.task_id, claimed.stats_date)
        row: Any = await tx.fetchrow(
            "deliveries_record_attempt",
            claimed.id,
            claimed.claim_token,
            decision.status,
            decision.next_attempt_at,
            result.status_code,
            _cut(error, ERROR_LIMIT),
            _cut(response, DELIVERY_RESPONSE_LIMIT),
            _cut(stats_response, STATS_RESPONSE_LIMIT),
            None if result.error_kind == "no-receiver" else claimed.url,
            None if result.error_kind == "no-receiver" else claimed.url_source,
        )
    if row is None:
        return Recorded(status=None, attempts=None, stats_updated=False, lost_claim=True)
    return Recorded(
        status=row["status"], attempts=row["attempts"], stats_updated=row["stats_rows"] > 0
    )


async def replay_report(
    db: Db,
    delivery_id: uuid.UUID | str | None = None,
    dead_since: date | None = None,
    all_dead: bool = False,
) -> ReplayReport:
    """Dead deliveries back to pending: one by id, those of stats dates from ``dead_since``, or all.

    A replayed delivery gets a fresh attempt budget. One that a newer version of its
    task and day has replaced stays dead and is reported in ``refused``: sending it
    would overwrite newer numbers at X2C.
    """
    selectors = sum((delivery_id is not None, dead_since is not None, all_dead))
    if selectors != 1:
        raise ValueError("replay needs exactly one of delivery_id, dead_since, all_dead")
    the_id = None
    if delivery_id is not None:
        try:
            the_id = uuid.UUID(str(delivery_id))
        except ValueError:
            log.warning("delivery.replay_refused", delivery_id=str(delivery_id), reason="bad id")
            return ReplayReport([], [ReplayRefusal(None, f"not a delivery id: {delivery_id}")])
    rows: list[Any] = await db.fetch("deliveries_replay", the_id, dead_since)
    replayed = [row["id"] for row in rows if not row["replaced"]]
    refused = [
        ReplayRefusal(row["id"], "replaced by a newer version of that task and day")
        for row in rows
        if row["replaced"]
    ]
    if the_id is not None and not rows:
        current: Any = await db.fetchrow("deliveries_get", the_id)
        reason = "no such delivery" if current is None else f"it is {current['status']}, not dead"
        refused.append(ReplayRefusal(the_id, reason))
    for refusal in refused:
        log.warning(
            "delivery.replay_refused",
            delivery_id=str(refusal.delivery_id),
            reason=refusal.reason,
        )
    if replayed:
        log.info("delivery.replayed", count=len(replayed))
    return ReplayReport(replayed=replayed, refused=refused)


async def replay(
    db: Db,
    delivery_id: uuid.UUID | str | None = None,
    dead_since: date | None = None,
    all_dead: bool = False,
) -> int:
    """How many dead deliveries went back in the queue (see :func:`replay_report`)."""
    report = await replay_report(db, delivery_id, dead_since, all_dead)
    return len(report.replayed)


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def delivery_summary(db: Db) -> dict[str, Any]:
    """Counts by status (and how many pending are due now) and the oldest pending delivery."""
    counts = dict.fromkeys(STATUSES, 0)
    due = 0
    by_status: list[Any] = await db.fetch("deliveries_count_by_status")
    for row in by_status:
        counts[row["status"]] = row["n"]
        due += row["due"]
    oldest: Any = await db.fetchrow("deliveries_oldest_pending")
    oldest_pending = None
    if oldest is not None:
        oldest_pending = {
            "id": str(oldest["id"]),
            "task_id": oldest["task_id"],
            "stats_date": _iso(oldest["stats_date"]),
            "next_attempt_at": _iso(oldest["next_attempt_at"]),
            "attempts": oldest["attempts"],
            "created_at": _iso(oldest["created_at"]),
            "last_error": oldest["last_error"],
        }
    return {"counts": counts, "due": due, "oldest_pending": oldest_pending}
