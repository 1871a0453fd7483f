"""What the outbox and the sender need to know, taken from the settings once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.settings import Settings


def default_lease(timeout_seconds: float) -> float:
    """How long a claim holds. A claimed delivery waits behind at most about three rounds
    of attempts (the batch in hand and the queue), then takes its own and is written:
    four timeouts plus a margin covers even a pass where every receiver hangs."""
    return 4 * timeout_seconds + 30


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    site_name: str = "DramaRelayBot"
    default_url: str | None = None
    # repr=False: a config printed in a log or a traceback must not show the secret.
    default_secret: str | None = field(default=None, repr=False)
    allow_private: bool = False
    max_attempts: int = 8
    timeout_seconds: float = 15.0
    concurrency: int = 16
    legacy_secret_header: bool = False
    lease_seconds: float = default_lease(15.0)
    # Each stats item carries its split by agent node as "nodes" (spec section 9).
    include_nodes: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        secret = settings.webhook_default_secret
        return cls(
            site_name=settings.site_name,
            default_url=settings.webhook_default_url,
            default_secret=secret.get_secret_value() if secret is not None else None,
            allow_private=settings.webhook_allow_private,
            max_attempts=settings.webhook_max_attempts,
            timeout_seconds=settings.webhook_timeout_seconds,
            concurrency=settings.webhook_concurrency,
            legacy_secret_header=settings.webhook_legacy_secret_header,
            lease_seconds=default_lease(settings.webhook_timeout_seconds),
            include_nodes=settings.webhook_include_nodes,
        )
