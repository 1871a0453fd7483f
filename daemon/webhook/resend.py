"""``resend``: a delivered day again, when X2C lost it (spec section 8).

Each task's last delivered version goes back in the outbox under its own delivery id
(as Svix resends: a receiver that still has it may drop it), with a fresh attempt
budget; the sender timestamps and signs it anew. A task whose latest version is pending
or dead is reported instead (``deliver`` sends a pending one, ``replay`` a dead one):
resending an older version would overwrite newer numbers at X2C.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog

from daemon.store.db import Db

log = structlog.get_logger("daemon.webhook.resend")


@dataclass(frozen=True, slots=True)
class NotResent:
    task_id: int
    delivery_id: uuid.UUID | None
    reason: str


@dataclass(slots=True)
class ResendReport:
    stats_date: date
    task_id: int | None
    resent: list[tuple[int, uuid.UUID]] = field(default_factory=list)
    not_resent: list[NotResent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Something was resent, and every task asked for by name was."""
        return bool(self.resent) and not (self.task_id is not None and self.not_resent)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stats_date": self.stats_date.isoformat(),
            "resent": [{"task_id": t, "id": str(i)} for t, i in self.resent],
            "not_resent": [
                {
                    "task_id": n.task_id,
                    "id": str(n.delivery_id) if n.delivery_id else None,
                    "reason": n.reason,
                }
                for n in self.not_resent
            ],
        }

    def text(self) -> str:
        lines = [
            f"requeued {len(self.resent)} delivered version(s) of {self.stats_date}"
            " (sent by the daemon's next pass, or `dailystats deliver`)"
        ]
        lines += [f"  task {t}: {i}" for t, i in self.resent]
        lines += [f"not resent: task {n.task_id}: {n.reason}" for n in self.not_resent]
        return "\n".join(lines)


_REASONS = {
    "pending": "its latest version is pending: `dailystats deliver` sends it",
    "dead": "its latest version is dead: `dailystats replay --id {id}` sends it",
}


async def resend_day(db: Db, stats_date: date, task_id: int | None = None) -> ResendReport:
    report = ResendReport(stats_date, task_id)
    async with db.transaction() as tx:
        await tx.execute("deliveries_resend_lock_stats", stats_date, task_id)
        rows: list[Any] = await tx.fetch("deliveries_resend", stats_date, task_id)
    for row in rows:
        if row["resend"]:
            report.resent.append((row["task_id"], row["latest_id"]))
            continue
        status = row["latest_status"]
        reason = _REASONS.get(status, "").format(id=row["latest_id"])
        if not reason:
            reason = (
                "its delivered version is being sent right now"
                if status == "delivered"
                else f"its latest version is {status}"
            )
        report.not_resent.append(NotResent(row["task_id"], row["latest_id"], reason))
    if task_id is not None and not rows:
        report.not_resent.append(NotResent(task_id, None, "nothing was delivered that day"))
    for n in report.not_resent:
        log.warning(
            "delivery.resend_refused",
            stats_date=stats_date.isoformat(),
            task_id=n.task_id,
            delivery_id=str(n.delivery_id) if n.delivery_id else None,
            reason=n.reason,
        )
    if report.resent:
        log.info("delivery.resent", stats_date=stats_date.isoformat(), count=len(report.resent))
    return report
