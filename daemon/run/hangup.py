"""SIGHUP never ends the daemon (spec section 7): one plain signal handler for the
process's whole life, installed as the first thing ``dailystats run`` does and never
removed, not even during the shutdown grace or after the event loop has closed.

Before the daemon serves, a SIGHUP is remembered and becomes one rescan once it does;
while it serves, each asks for a rescan (the queue merges them); once it stops, they
are ignored. The handler is not the event loop's (``loop.add_signal_handler``): the
loop gives its signals back to the default action, which ends the process, when a
handler is removed or the loop closes. This module imports nothing heavy, so the entry
point can install it before anything else is loaded.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from types import FrameType


class Hangups:
    def __init__(self) -> None:
        self.pending = False
        self._target: tuple[asyncio.AbstractEventLoop, Callable[[], None]] | None = None

    def install(self) -> None:
        signal.signal(signal.SIGHUP, self._on_signal)

    def serve(self, loop: asyncio.AbstractEventLoop, ask: Callable[[], None]) -> None:
        """From now on a SIGHUP calls ``ask`` on ``loop``; one that came before does now."""
        self._target = (loop, ask)
        if self.pending:
            self.pending = False
            loop.call_soon(ask)

    def stop_serving(self) -> None:
        """Shutdown: SIGHUPs are ignored from here until the process exits."""
        self._target = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        target = self._target
        if target is None:
            self.pending = True
            return
        loop, ask = target
        with contextlib.suppress(RuntimeError):  # the loop closed: nothing to rescan
            loop.call_soon_threadsafe(ask)


HANGUPS = Hangups()
