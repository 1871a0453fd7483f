"""Known secrets through the daemon and the CLI: a crashed scan with a traceback, a
quota stop logged by a fetcher, failed deliveries whose receiver echoes secrets back.
Every output line is JSON in JSON mode (issue 8), and no secret is found in any output,
log line or database column but where it is configured (issue 9)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from daemon.demo.fake_providers import FakeProviders
from daemon.demo.fake_receiver import Reply, WebhookReceiver
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks

pytestmark = pytest.mark.slow

YOUTUBE_KEY = "AIzaLEAKyoutube0123456789"
TIKHUB_KEY = "thLEAKtikhub-key-987654"
DEFAULT_SECRET = "dfLEAKdefault-secret-555"
CALLBACK_SECRET = "cbLEAKcallback-secret-333"
DB_PASSWORD = "dbLEAKpassw0rd-111"
SECRETS = (YOUTUBE_KEY, TIKHUB_KEY, DEFAULT_SECRET, CALLBACK_SECRET, DB_PASSWORD)
# Each secret as a library or the database would show it: a DSN, a query string, bare
# configured values, and a task's secret in PostgreSQL's "Key (...)=(...)" detail.
EVERY_SECRET = (
    f"postgresql://bot:{DB_PASSWORD}@db/bot ?key={YOUTUBE_KEY} {TIKHUB_KEY} {DEFAULT_SECRET}"
    f" DETAIL: Key (task_id, callback_secret)=(1, {CALLBACK_SECRET}) already exists"
)
# A receiver that echoes what it got, secrets included, in its error answer.
ECHO = Reply(
    500, body=f"rejected: Authorization: Bearer {TIKHUB_KEY} {CALLBACK_SECRET} {EVERY_SECRET}"
)
DAY = datetime.now(UTC).date() - timedelta(days=1)
WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Output:
    """Every line a process wrote, on both streams."""

    lines: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    async def read(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            async with self.changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.changed.notify_all()

    async def wait_for(self, test: Callable[[dict[str, Any]], bool]) -> None:
        def seen() -> bool:
            for line in self.lines:
                try:
                    if test(json.loads(line)):
                        return True
                except ValueError:
                    continue
            return False

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(seen), WITHIN)


async def until(check: Callable[[], Any], what: str) -> None:
    """Poll an async condition until it holds, or fail after WITHIN seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class World:
    admin: asyncpg.Connection
    env: dict[str, str]
    providers: FakeProviders
    receiver: WebhookReceiver
    outputs: list[str] = field(default_factory=list)

    async def crash_scans(self, on: bool) -> None:
        if on:  # a database error whose message carries every secret, as a DSN would
            await self.admin.execute(
                "CREATE OR REPLACE FUNCTION leak_boom() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION 'boom %', '{EVERY_SECRET}'; END $$;"
                "CREATE OR REPLACE TRIGGER leak_boom BEFORE INSERT OR UPDATE ON task_daily_stats"
                " FOR EACH ROW EXECUTE FUNCTION leak_boom()"
            )
            # An unchanged day is not written again (issue 15): mark the days changed so
            # the next scan writes, and meets the trigger.
            await self.admin.execute(
                "UPDATE dailystats_classified_days SET change_seq = change_seq + 1"
            )
        else:
            await self.admin.execute("DROP TRIGGER IF EXISTS leak_boom ON task_daily_stats")

    async def fail_claims(self, on: bool) -> None:
        """The sender's writes to the outbox fail, with the same message."""
        if on:
            await self.admin.execute(
                "CREATE OR REPLACE TRIGGER leak_claim BEFORE UPDATE OF claim_token"
                " ON dailystats_deliveries FOR EACH ROW EXECUTE FUNCTION leak_boom()"
            )
        else:
            await self.admin.execute("DROP TRIGGER IF EXISTS leak_claim ON dailystats_deliveries")

    async def cli(self, *args: str, **env: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon", *args,
            env={**self.env, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), WITHIN)
        text = out.decode(errors="replace") + err.decode(errors="replace")
        self.outputs.append(text)
        assert process.returncode is not None
        return process.returncode, text

    async def dump(self) -> str:
        """Every row of every table, as JSON text; the task's secret column left out,
        since that is where it is configured."""
        tables = await self.admin.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        rows = []
        for (table,) in tables:
            rows += await self.admin.fetch(
                f"SELECT (to_jsonb(t) - 'callback_secret')::text FROM \"{table}\" t"
            )
        return "\n".join(r[0] for r in rows)


def secret_url(db_url: str, role: str) -> str:
    parts = urlsplit(db_url)
    if not parts.hostname:
        pytest.skip("a password in DATABASE_URL needs a PostgreSQL reached over TCP")
    return urlunsplit(parts._replace(netloc=f"{role}:{DB_PASSWORD}@{parts.hostname}:{parts.port}"))


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    admin = await asyncpg.connect(db_url)
    # A role with a password (the cluster trusts 127.0.0.1, so it is accepted unchecked).
    role = f"dailystats_leak_{os.getpid()}"
    await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
    await admin.execute(f"CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}'")
    providers = FakeProviders(youtube_key=YOUTUBE_KEY, tikhub_key=TIKHUB_KEY)
    providers.exceed_youtube_quota()  # the fetcher logs a warning through stdlib logging
    try:
        async with providers.start() as base, WebhookReceiver(default=ECHO) as receiver:
            receiver.set_secret("/task", CALLBACK_SECRET)
            receiver.set_secret("/default", DEFAULT_SECRET)
            await insert_tasks(
                admin, [1], callback_url=receiver.url("/task"), callback_secret=CALLBACK_SECRET
            )
            await insert_tasks(admin, [2])
            at = datetime.combine(DAY, datetime.min.time()) + timedelta(hours=12)
            link = "https://www.youtube.com/watch?v=leakvid{:04d}"
            await insert_completions(
                admin,
                [Completion(n, 1 + n % 2, n, "submitted", "YouTube", link.format(n), at, None)
                 for n in range(1, 5)],
            )  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEB"))}
            env.update(
                DATABASE_URL=secret_url(db_url, role),
                YOUTUBE_API_KEY=YOUTUBE_KEY,
                YOUTUBE_API_URL=f"{base}/youtube/v3",
                TIKHUB_API_KEY=TIKHUB_KEY,
                TIKHUB_API_URL=base,
                WEBHOOK_DEFAULT_URL=receiver.url("/default"),
                WEBHOOK_DEFAULT_SECRET=DEFAULT_SECRET,
                WEBHOOK_ALLOW_PRIVATE="true",
                WEBHOOK_RETRY_INTERVAL_SECONDS="3600",
                LOG_FORMAT="json",
                CATCHUP_DAYS="1",
                # Nightly at midnight: yesterday is owed at start, whatever the hour.
                SCAN_CRON="0 0 * * *",
                HEALTH_PORT=str(free_port()),
            )
            yield World(admin, env, providers, receiver)
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def run_daemon(world: World) -> Output:
    """Start with a crashing catch-up scan, then SIGHUP a good one whose deliveries
    fail, then SIGTERM: returns every line the daemon wrote."""
    await world.crash_scans(True)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon", "run",
        env=world.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    output = Output()
    readers = [asyncio.create_task(output.read(s)) for s in (process.stdout, process.stderr)]
    try:
        await output.wait_for(lambda e: e.get("event") == "scan.failed")
        await world.fail_claims(True)
        await world.crash_scans(False)
        process.send_signal(signal.SIGHUP)
        await output.wait_for(
            lambda e: e.get("event") == "scan.finished" and e.get("status") == "succeeded"
        )
        # The delivery pass after the scan crashes on the outbox, with its traceback.
        await output.wait_for(lambda e: "exception" in e and e["event"] != "scan.failed")
        await world.fail_claims(False)
        process.send_signal(signal.SIGHUP)  # the next scan wakes the sender again

        async def both_failed_once() -> bool:
            attempts = await world.admin.fetchval(
                "SELECT count(*) FROM dailystats_deliveries WHERE attempts > 0"
            )
            return bool(attempts >= 2)

        await until(both_failed_once, "both deliveries to be tried")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WITHIN) == 0
        await asyncio.wait_for(asyncio.gather(*readers), WITHIN)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    world.outputs.extend(output.lines)
    return output


async def test_every_line_the_daemon_writes_in_json_mode_is_json(world: World) -> None:
    # LOG_LEVEL=DEBUG: the libraries' lines below WARNING are shown too (issue 17).
    world.env["LOG_LEVEL"] = "DEBUG"
    output = await run_daemon(world)
    events = output.events()  # raises on any line that is not one JSON object
    assert all(isinstance(e, dict) and "event" in e and "level" in e for e in events)
    # structlog's own events, a library's (APScheduler's stdlib logger), a fetcher's
    # stdlib warning, and a traceback rendered as data without frame locals.
    assert any(e.get("logger", "").startswith("apscheduler") for e in events)
    assert any(
        e.get("logger") == "daemon.fetch.youtube" and e["level"] == "warning" for e in events
    )
    # Tracebacks, of the crashed scan and of the crashed delivery pass, as data.
    crashes = [e for e in events if "exception" in e]
    assert {"scan.failed"} < {e["event"] for e in crashes}
    for crash in crashes:
        assert crash["exception"][0]["frames"]
        assert all("locals" not in f for x in crash["exception"] for f in x["frames"])


async def test_no_secret_reaches_any_output_log_line_or_column(world: World) -> None:
    await run_daemon(world)
    await world.crash_scans(True)
    code, _ = await world.cli("scan", "--date", DAY.isoformat(), "--json")
    assert code == 1  # the crashed scan fails the command, with its traceback logged
    await world.crash_scans(False)
    await world.fail_claims(True)  # a delivery pass whose outbox writes fail
    await world.cli("deliver", "--force", "--json")
    await world.fail_claims(False)
    for args in (
        ("scan", "--date", DAY.isoformat(), "--json"),
        ("deliver", "--force", "--json"),
        ("status",),
        ("status", "--json"),
        ("replay", "--dead", "--json"),
        ("backfill", "--from", DAY.isoformat(), "--to", DAY.isoformat()),
    ):
        await world.cli(*args)
    for log_format in ("json", "console"):
        await world.cli("status", "--json", LOG_FORMAT=log_format)
    # No such database: the connection error names the URL's parts, not its password.
    missing = world.env["DATABASE_URL"].rsplit("/", 1)[0] + "/no_such_db"
    code, text = await world.cli("status", DATABASE_URL=missing)
    assert code == 1 and "no_such_db" in text
    # A bad setting at the daemon's start, and in a one-shot command.
    for command in ("run", "status"):
        code, _ = await world.cli(command, SCAN_CRON="never")
        assert code == 2
    stored = await world.dump()
    everything = "\n".join(world.outputs) + "\n" + stored

    for secret in SECRETS:
        at = everything.find(secret)
        assert at < 0, f"{secret} leaked: ...{everything[max(0, at - 300) : at + 80]}"
    # The secrets were in use, and what carried them was kept, masked, not dropped.
    signed = {r.path: r.signature_ok for r in world.receiver.requests}
    assert signed == {"/task": True, "/default": True}
    errors = await world.admin.fetch("SELECT error FROM dailystats_scan_runs WHERE error > ''")
    assert errors and all("boom" in r["error"] and "***" in r["error"] for r in errors)
    assert "rejected: Authorization: Bearer ***" in stored
    assert any("Traceback" in o or '"exception"' in o for o in world.outputs)
