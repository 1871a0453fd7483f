"""What one POST came to, as a plain value the decision and the record are made from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# no-receiver: the task names no URL and there is no default one at this attempt.
ErrorKind = Literal["timeout", "connection", "refused-url", "no-receiver"]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """Either a status code (the receiver answered) or an error kind (it did not)."""

    status_code: int | None
    error_kind: ErrorKind | None = None
    error: str | None = None
    # The start of the response body, decoded leniently; capped by the sender.
    response_text: str | None = None
    # Seconds the receiver asked us to wait (429/503), already parsed.
    retry_after: float | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        """One short line for logs and last_error."""
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return f"{self.error_kind}: {self.error}" if self.error else str(self.error_kind)
