"""A process's JSON log lines as they arrive, and waiting on them without sleeps."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LogLines:
    """Reads ``stream`` line by line: JSON objects into ``events``, anything else into
    ``plain``; ``closed`` once the stream ends (the process exited)."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.events: list[dict[str, Any]] = []
        self.plain: list[str] = []
        self.closed = False
        self.changed = asyncio.Condition()
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            async for raw in stream:
                async with self.changed:
                    try:
                        self.events.append(json.loads(raw))
                    except ValueError:
                        self.plain.append(raw.decode(errors="replace"))
                    self.changed.notify_all()
        finally:
            async with self.changed:
                self.closed = True
                self.changed.notify_all()

    def seen(self, name: str, **fields: Any) -> bool:
        return any(
            e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
            for e in self.events
        )

    async def wait(self, condition: Callable[[], bool], within: float) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(condition), within)

    async def wait_for_event(self, name: str, within: float, **fields: Any) -> None:
        """Until ``name`` is logged; fails at once if the stream ends first."""
        await self.wait(lambda: self.seen(name, **fields) or self.closed, within)
        assert self.seen(name, **fields), (self.events[-20:], self.plain[-20:])
