"""When to try a delivery again: a pure decision, stored by a separate write.

The schedule is Svix's (spec section 6): the first attempt at once, then 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 10 h, each with jitter so that a receiver coming back up is
not hit by every queued delivery in the same second.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# Delay before attempt n+1, indexed by n = attempts already made (index 0: the first).
SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2
# A receiver asking us to wait longer than this is capped: past a day the delivery
# would be stale, and a typo in Retry-After must not park it for a year.
MAX_RETRY_AFTER = 24 * 3600.0


class Outcome(enum.Enum):
    """What one attempt amounted to, as far as retrying is concerned."""

    DELIVERED = "delivered"  # any 2xx within the timeout
    FAILED = "failed"  # other status, 3xx, timeout, connection error: retry
    THROTTLED = "throttled"  # 429 or 503: retry, honouring Retry-After
    GONE = "gone"  # 410: the receiver says never again
    REFUSED = "refused"  # the URL is not one we may call: retrying cannot help


def classify(status_code: int | None, error_kind: str | None) -> Outcome:
    if error_kind in ("refused-url", "no-receiver"):
        return Outcome.REFUSED
    if status_code is None:
        return Outcome.FAILED
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.GONE
    if status_code in (429, 503):
        return Outcome.THROTTLED
    return Outcome.FAILED


@dataclass(frozen=True, slots=True)
class Decision:
    """What to store after an attempt. ``next_attempt_at`` is set only for a retry."""

    status: Literal["delivered", "pending", "dead"]
    reason: Literal["delivered", "retry", "exhausted", "gone", "refused"]
    next_attempt_at: datetime | None = None

    @property
    def retrying(self) -> bool:
        return self.status == "pending"


def next_delay(attempts_made: int, rand: float, schedule: tuple[float, ...] = SCHEDULE) -> float:
    """Seconds before the next attempt after ``attempts_made``; ``rand`` in [0, 1).

    Past the end of the schedule the last step repeats (max_attempts may exceed it).
    Jitter is ±20% around the step.
    """
    index = max(0, min(attempts_made, len(schedule) - 1))
    base = schedule[index]
    return base * (1 - JITTER + 2 * JITTER * rand)


def decide(
    outcome: Outcome,
    attempts_made: int,
    max_attempts: int,
    retry_after: float | None,
    now: datetime,
    rand: float,
) -> Decision:
    """The state a delivery moves to after its ``attempts_made``-th attempt ended in ``outcome``."""
    if outcome is Outcome.DELIVERED:
        return Decision("delivered", "delivered")
    if outcome is Outcome.GONE:
        return Decision("dead", "gone")
    if outcome is Outcome.REFUSED:
        return Decision("dead", "refused")
    if attempts_made >= max_attempts:
        return Decision("dead", "exhausted")
    delay = next_delay(attempts_made, rand)
    if outcome is Outcome.THROTTLED and retry_after is not None and math.isfinite(retry_after):
        # The receiver knows its load better than our schedule: wait at least as asked.
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return Decision("pending", "retry", now + timedelta(seconds=delay))
