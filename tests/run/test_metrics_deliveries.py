"""What a delivery pass adds to the metrics, unsigned sends included."""

from __future__ import annotations

from daemon.run import metrics
from daemon.webhook.sender import DeliverReport


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels or {})
    return value or 0.0


def test_a_pass_counts_its_outcomes_and_its_unsigned_sends() -> None:
    before_unsigned = _value("dailystats_deliveries_unsigned_total")
    before_sent = _value("dailystats_delivery_attempts_total", {"result": "delivered"})
    metrics.record_deliveries(DeliverReport(attempted=3, delivered=3, unsigned=2))
    assert _value("dailystats_deliveries_unsigned_total") - before_unsigned == 2
    sent = _value("dailystats_delivery_attempts_total", {"result": "delivered"})
    assert sent - before_sent == 3
