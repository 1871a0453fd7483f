"""A provider's off switch for the rest of a run (quota exhausted, key rejected, no balance)."""

from __future__ import annotations

import asyncio


class ProviderStopped(Exception):
    """Raised instead of sending a request to a provider that was switched off."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Breaker:
    """Tripped once, stays tripped: every later call to that provider fails fast.

    Calling on after a quota or billing error only burns requests (and, for
    TikHub, may be billed), so the first such answer stops the provider.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.reason: str | None = None
        self._event = asyncio.Event()

    @property
    def tripped(self) -> bool:
        return self.reason is not None

    def trip(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._event.set()

    def check(self) -> None:
        if self.reason is not None:
            raise ProviderStopped(self.reason)

    async def wait(self) -> None:
        """Returns once tripped; lets a backoff sleep end early."""
        await self._event.wait()
