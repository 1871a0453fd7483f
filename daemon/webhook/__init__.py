"""Webhook delivery to X2C (spec section 6): payload, signing, retry rules, URL guard,
the durable outbox in PostgreSQL, and the sender that drains it.

Pure rules live in payload, signing, backoff and urlguard; IO in outbox and sender.
Its SQL is ``queries.sql`` beside it. Imports: settings, rules, store.
"""

from daemon.webhook.config import DeliveryConfig
from daemon.webhook.outbox import (
    Claimed,
    ReplayReport,
    claim_due,
    delivery_summary,
    enqueue_deliveries,
    record_attempt,
    replay,
    replay_report,
)
from daemon.webhook.payload import StatsRow, build_payload, encode_body
from daemon.webhook.sender import DeliverReport, create_session, deliver_due, post_delivery

__all__ = [
    "Claimed",
    "DeliverReport",
    "DeliveryConfig",
    "ReplayReport",
    "StatsRow",
    "build_payload",
    "claim_due",
    "create_session",
    "deliver_due",
    "delivery_summary",
    "encode_body",
    "enqueue_deliveries",
    "post_delivery",
    "record_attempt",
    "replay",
    "replay_report",
]
