"""A process's JSON log lines as they arrive, and waiting on them without sleeps; the
daemon (``dailystats run``) started as a process for a test."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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


class Daemon:
    """A running ``dailystats run`` and the events it has logged so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        self.process = process
        self.logs = LogLines(process.stderr)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.logs.events

    @property
    def reader(self) -> asyncio.Task[None]:
        return self.logs.task

    def count(self, name: str, **fields: Any) -> int:
        return sum(
            1
            for e in self.events
            if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
        )

    async def wait_for(self, name: str, times: int = 1, within: float = 30, **fields: Any) -> None:
        await self.logs.wait(lambda: self.count(name, **fields) >= times, within)


@asynccontextmanager
async def started(
    db_url: str, *python_args: str, **env_overrides: str
) -> AsyncIterator[tuple[Daemon, int]]:
    """``dailystats run`` on ``db_url`` with JSON logs, no providers, no nightly scan in
    sight and no catch-up (``env_overrides`` change that); yields it and its health port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEBHOOK_"))}
    env.update(
        {
            "DATABASE_URL": db_url,
            "HEALTH_PORT": str(port),
            "CATCHUP_DAYS": "0",
            "LOG_FORMAT": "json",
            "SCAN_CRON": "0 2 1 1 *",
            "WEBHOOK_RETRY_INTERVAL_SECONDS": "3600",
            "YOUTUBE_API_KEY": "",
            "TIKHUB_API_KEY": "",
        }
    )
    env.update(env_overrides)
    process = await asyncio.create_subprocess_exec(
        sys.executable, *python_args, "-m", "daemon", "run", env=env, stderr=asyncio.subprocess.PIPE
    )
    running = Daemon(process)
    try:
        yield running, port
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        running.reader.cancel()
