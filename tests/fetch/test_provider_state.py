"""Provider stops and TikHub spend in PostgreSQL: honoured by every scan, process, replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

import daemon.scan.livestats as livestats
from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import FetchConfig, FetchStatus, VideoStats
from daemon.fetch.gate import BUDGET_REASON, next_midnight
from daemon.fetch.plan import TikHubPrices
from daemon.fetch.stops import DbProviderGate, key_fingerprint, spend_of_day
from daemon.fetch.youtube import PACIFIC, QUOTA_ERROR
from daemon.scan.day import LiveFetch, ScanConfig, ScanReport, scan_day
from daemon.store.db import Db, create_pool
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks

DAY = date(2024, 12, 9)
DAY2 = date(2024, 12, 10)
UTC_ZONE = ZoneInfo("UTC")
KEY = "fake-tikhub-key"


def tt_id(n: int) -> str:
    return str(7_300_000_000_000_000_000 + n)


async def add_day(db: Db, day: date, *, tiktok: int = 0, youtube: int = 0, base: int = 0) -> None:
    at = datetime(day.year, day.month, day.day, 9, 30)
    rows = [
        Completion(
            base + n + 1,
            1,
            base + n + 1,
            "submitted",
            "TikTok",
            f"https://www.tiktok.com/@u/video/{tt_id(base + n)}",
            at,
            None,
        )
        for n in range(tiktok)
    ]
    rows += [
        Completion(
            base + 5000 + n,
            1,
            base + 5000 + n,
            "submitted",
            "YouTube",
            f"https://www.youtube.com/watch?v=vid{base + n:08d}",
            at,
            None,
        )
        for n in range(youtube)
    ]
    async with db.connection() as tx:
        await insert_completions(tx.conn, rows)


@pytest.fixture
async def fake(db: Db) -> AsyncIterator[tuple[FakeProviders, str]]:
    providers = FakeProviders()
    for n in range(400):
        providers.add_video("tt", tt_id(n), VideoStats(10, 2, 3, 4, 5))
        providers.add_video("yt", f"vid{n:08d}", VideoStats(100, 2, 1))
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
    async with providers.start() as base:
        yield providers, base


def fetch_config(providers: FakeProviders, base: str, **overrides: Any) -> FetchConfig:
    defaults: dict[str, Any] = {"tikhub_rate_per_second": 0.0, "backoff_base_seconds": 0.001}
    defaults.update(overrides)
    return providers.config(base, **defaults)


async def scan(
    db: Db,
    day: date,
    config: FetchConfig,
    *,
    budget: Decimal | None = None,
    key: str = KEY,
) -> ScanReport:
    gate = DbProviderGate(db, UTC_ZONE, tikhub_key=key, budget=budget)
    async with aiohttp.ClientSession() as session:
        live = LiveFetch(session=session, config=config, gate=gate)
        return await scan_day(db, day, ScanConfig.defaults(), trigger="test", live=live)


async def run_state(db: Db, run_id: int) -> Any:
    return await db.fetchrow("runs_provider_state", [run_id])


async def test_402_mid_run_stored_and_honoured_by_later_chunks_scans_and_restarts(
    db: Db, db_url: str, fake: tuple[FakeProviders, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    providers, base = fake
    # Small chunks, so the scan fetches in several rounds after the 402.
    monkeypatch.setattr(livestats, "FETCH_CHUNK", 10)
    await add_day(db, DAY, tiktok=60)
    providers.fail_next(None, 402, endpoint="tiktok")  # chunks of 10: single calls
    config = fetch_config(providers, base, concurrency=1)

    report = await scan(db, DAY, config)

    assert report.status == "succeeded"
    assert providers.tikhub_calls() == {"tiktok": 1}  # the first call, then nothing
    assert report.videos_stopped == 60 and report.incomplete_providers == ["tikhub"]
    row = await db.fetchrow("provider_stop_active", "tikhub")
    assert row["reason"] == "tikhub out of balance (402)" and row["until"] is None
    assert row["key_fingerprint"] == key_fingerprint(KEY) and KEY not in row["key_fingerprint"]
    state = await run_state(db, report.run_id)
    assert state["incomplete_providers"] == ["tikhub"]

    # A later scan, and a "restarted" process with its own pool, make no TikHub call.
    report = await scan(db, DAY, config)
    assert report.videos_stopped == 60
    pool = await create_pool(db_url)
    try:
        await scan(Db(pool), DAY, config)
    finally:
        await pool.close()
    assert providers.tikhub_calls() == {"tiktok": 1}


async def test_changed_key_lifts_a_key_stop_at_once(
    db: Db, fake: tuple[FakeProviders, str]
) -> None:
    providers, base = fake
    await add_day(db, DAY, tiktok=3)
    providers.tikhub_key = "old-key"
    report = await scan(
        db, DAY, fetch_config(providers, base, tikhub_api_key="new-key"), key="new-key"
    )
    assert report.incomplete_providers == ["tikhub"]  # 401 with "new-key": stopped
    calls = len(providers.requests)
    # Same key again: still stopped, no call.
    await scan(db, DAY, fetch_config(providers, base, tikhub_api_key="new-key"), key="new-key")
    assert len(providers.requests) == calls
    # The operator fixes the key: the stop is lifted without waiting for a probe.
    report = await scan(
        db, DAY, fetch_config(providers, base, tikhub_api_key="old-key"), key="old-key"
    )
    assert report.incomplete_providers == [] and report.videos_fetched == 3
    assert await db.fetchrow("provider_stop_active", "tikhub") is None


async def test_hourly_probe(db: Db, fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    await add_day(db, DAY, tiktok=3)
    gate = DbProviderGate(db, UTC_ZONE, tikhub_key=KEY)
    await gate.stop("tikhub", "tikhub out of balance (402)", None)
    config = fetch_config(providers, base)
    # Just stopped: no probe for an hour, no call at all.
    report = await scan(db, DAY, config)
    assert report.videos_stopped == 3 and providers.requests == []
    # An hour later: one probe (TikHub's free account endpoint), which succeeds: cleared.
    await db.pool.execute(
        "UPDATE dailystats_provider_stops SET stopped_at = now() - interval '61 minutes'"
    )
    report = await scan(db, DAY, config)
    assert [r.endpoint for r in providers.requests][:1] == ["tikhub_probe"]
    assert report.videos_fetched == 3 and report.incomplete_providers == []


async def test_probe_is_claimed_once_an_hour_across_replicas(db: Db) -> None:
    gates = [DbProviderGate(db, UTC_ZONE, tikhub_key=KEY) for _ in range(3)]
    await gates[0].stop("tikhub", "tikhub key rejected (401)", None)
    await db.pool.execute(
        "UPDATE dailystats_provider_stops SET stopped_at = now() - interval '2 hours'"
    )
    stops = await asyncio.gather(*(g.active_stop("tikhub") for g in gates * 3))
    assert all(s is not None for s in stops)
    assert sum(s.probe for s in stops if s is not None) == 1


async def test_youtube_quota_stored_until_midnight_pacific(
    db: Db, fake: tuple[FakeProviders, str]
) -> None:
    providers, base = fake
    await add_day(db, DAY, youtube=120)
    providers.exceed_youtube_quota()
    before = next_midnight(PACIFIC)
    report = await scan(db, DAY, fetch_config(providers, base, concurrency=1))
    after = next_midnight(PACIFIC)
    assert report.incomplete_providers == ["youtube"]
    row = await db.fetchrow("provider_stop_active", "youtube")
    assert row["reason"] == QUOTA_ERROR and row["until"] in (before, after)
    assert row["until"].astimezone(PACIFIC).time().isoformat() == "00:00:00"
    calls = len(providers.requests_to("youtube"))
    await scan(db, DAY, fetch_config(providers, base))
    assert len(providers.requests_to("youtube")) == calls


async def test_budget_across_two_concurrent_scans_is_never_passed(
    db: Db, db_url: str, fake: tuple[FakeProviders, str]
) -> None:
    providers, base = fake
    providers.latency = 0.01
    await add_day(db, DAY, tiktok=150)
    await add_day(db, DAY2, tiktok=150, base=200)
    budget = Decimal("0.1")  # four TikTok batches of 25
    config = fetch_config(providers, base, concurrency=4)
    pool = await create_pool(db_url)  # a second replica: its own pool and gate
    try:
        reports = await asyncio.gather(
            scan(db, DAY, config, budget=budget), scan(Db(pool), DAY2, config, budget=budget)
        )
    finally:
        await pool.close()
    spent = providers.tikhub_spend(TikHubPrices())
    assert spent == budget  # exactly the budget's worth of calls, never more
    assert sum(r.videos_fetched for r in reports) == 100
    assert sum(r.videos_stopped for r in reports) == 200
    assert all(r.incomplete_providers == ["tikhub"] for r in reports)
    ledger = await spend_of_day(db, datetime.now(UTC).date())
    assert [(x.endpoint, x.calls, x.usd) for x in ledger] == [("tiktok_multi", 4, Decimal("0.1"))]
    row = await db.fetchrow("provider_stop_active", "tikhub")
    assert row["reason"] == BUDGET_REASON
    assert row["until"] == next_midnight(UTC_ZONE)
    # The run records its spend per endpoint.
    runs = {r.run_id: r for r in reports}
    for run_id, report in runs.items():
        state = await run_state(db, run_id)
        assert state["incomplete_providers"] == ["tikhub"]
        assert report.tikhub_spend.get("tiktok_multi", {}).get("calls", 0) * 25 == (
            report.videos_fetched
        )


async def test_reservations_are_atomic_and_unbilled_calls_give_back(db: Db) -> None:
    gates = [DbProviderGate(db, UTC_ZONE, tikhub_key=KEY, budget=Decimal("1")) for _ in range(4)]
    price = Decimal("0.025")
    allowed = await asyncio.gather(*(g.allow("tikhub", "tiktok_multi", price) for g in gates * 30))
    assert sum(r is not None for r in allowed) == 40
    assert await db.fetchrow("provider_stop_active", "tikhub") is not None
    await db.execute("provider_stop_clear", "tikhub")
    # A call not answered 200 gives its price back; the next one may go.
    given = next(r for r in allowed if r is not None)
    await gates[0].settle(given, billed=False)
    assert await gates[1].allow("tikhub", "tiktok_multi", price)
    assert not await gates[2].allow("tikhub", "tiktok_multi", price)


async def test_budget_stop_never_replaces_a_key_stop(db: Db) -> None:
    gate = DbProviderGate(db, UTC_ZONE, tikhub_key=KEY)
    await gate.stop("tikhub", "tikhub key rejected (401)", None)
    await gate.stop("tikhub", BUDGET_REASON, datetime.now(UTC) + timedelta(hours=3))
    row = await db.fetchrow("provider_stop_active", "tikhub")
    assert row["reason"] == "tikhub key rejected (401)" and row["until"] is None
    assert FetchStatus.STOPPED.value == "stopped"


async def test_a_call_straddling_midnight_is_settled_on_its_own_day(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = DbProviderGate(db, UTC_ZONE, tikhub_key=KEY, budget=Decimal("1"))
    days = iter([DAY, DAY2, DAY2])
    monkeypatch.setattr(gate, "today", lambda: next(days))
    price = Decimal("0.025")
    reserved = await gate.allow("tikhub", "tiktok_multi", price)  # reserved on DAY
    assert reserved is not None
    await gate.settle(reserved, billed=True)  # answered after midnight
    assert [(x.calls, x.usd) for x in await spend_of_day(db, DAY)] == [(1, price)]
    assert await spend_of_day(db, DAY2) == []


DY_ID = "7400000000000000001"


@pytest.mark.parametrize("refusal", ["budget", "402"])
async def test_a_douyin_video_whose_second_call_is_refused_leaves_the_day_incomplete(
    db: Db, fake: tuple[FakeProviders, str], refusal: str
) -> None:
    """The $0.001 detail call runs, the $0.025 statistics call is refused: the video has
    no play counts, so the day is incomplete for TikHub and owed once that clears."""
    from daemon.fetch.plan import DOUYIN_STATISTICS

    providers, base = fake
    providers.add_video("dy", DY_ID, VideoStats(8000, 320, 45, 28, 62))
    async with db.connection() as tx:
        await insert_completions(
            tx.conn,
            [
                Completion(
                    1,
                    1,
                    1,
                    "submitted",
                    "douyin",
                    f"https://www.douyin.com/video/{DY_ID}",
                    datetime(2024, 12, 9, 9, 30),
                    None,
                )
            ],
        )
    budget = Decimal("0.025") if refusal == "budget" else None
    if refusal == "402":
        providers.fail_next(None, 402, endpoint=DOUYIN_STATISTICS)
    report = await scan(db, DAY, fetch_config(providers, base), budget=budget)

    assert report.status == "succeeded"
    assert report.incomplete_providers == ["tikhub"]
    assert report.videos_stopped == 1
    state = await run_state(db, report.run_id)
    assert state["incomplete_providers"] == ["tikhub"]
    async with db.connection() as tx:
        row = await tx.conn.fetchrow(
            "SELECT dy_view_count, dy_comment_count FROM task_daily_stats WHERE stats_date = $1",
            DAY,
        )
    # The detail's counts are kept; the play counts are owed.
    assert (row["dy_view_count"], row["dy_comment_count"]) == (0, 45)


async def test_calls_straddling_midnight_settle_on_the_day_each_reserved_on(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Call A reserves before midnight, call B after; B is answered (billed) first, then
    A fails (not billed). B's spend is DAY2's, A's reservation is given back on DAY, and
    DAY2's budget stays full: a third call that day is refused."""
    from aiohttp import web

    from daemon.fetch.context import FetchContext
    from daemon.fetch.plan import TIKTOK_ONE, Call
    from daemon.fetch.tikhub import fetch_tikhub_call

    release_a = asyncio.Event()
    arrived_a = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if request.query.get("aweme_id") == tt_id(1):
            arrived_a.set()
            await release_a.wait()
            return web.json_response({"detail": "upstream"}, status=500)
        return web.json_response({"code": 200, "data": {"aweme_detail": None}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    price = Decimal("0.001")
    gate = DbProviderGate(db, UTC_ZONE, tikhub_key=KEY, budget=price)
    days = iter([DAY, DAY2, DAY2, DAY2, DAY2])
    monkeypatch.setattr(gate, "today", lambda: next(days))
    config = FetchConfig(
        tikhub_api_url=base,
        tikhub_api_key=KEY,
        tikhub_rate_per_second=0.0,
        max_retries=0,
        tikhub_prices=TikHubPrices(tiktok_single=price),
    )
    try:
        async with aiohttp.ClientSession() as session:
            ctx = FetchContext.create(session, config, gate=gate)
            call_a = asyncio.create_task(fetch_tikhub_call(ctx, Call(TIKTOK_ONE, (tt_id(1),))))
            await arrived_a.wait()  # A reserved on DAY and is in flight
            await fetch_tikhub_call(ctx, Call(TIKTOK_ONE, (tt_id(2),)))  # B: DAY2, billed
            release_a.set()
            await call_a
            assert [(x.calls, x.usd) for x in await spend_of_day(db, DAY2)] == [(1, price)]
            assert await spend_of_day(db, DAY) == []
            # DAY2's budget holds B's call: one more that day is refused.
            await db.execute("provider_stop_clear", "tikhub")
            assert not await gate.allow("tikhub", TIKTOK_ONE, price)
    finally:
        await runner.cleanup()
