"""TikHub as documented: batch endpoints, Douyin play counts, the cheapest plan, stops."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from multidict import CIMultiDict

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import FetchConfig, FetchCounters, FetchResult, FetchStatus, VideoStats
from daemon.fetch.fetcher import merge_douyin
from daemon.fetch.gate import BUDGET_REASON, MemoryGate, next_midnight
from daemon.fetch.plan import (
    BATCH_SIZE,
    DOUYIN_MULTI,
    DOUYIN_ONE,
    DOUYIN_STATISTICS,
    TIKTOK_MULTI,
    TIKTOK_ONE,
    TikHubPrices,
    cheapest_spend,
    plan_douyin,
    plan_spend,
    plan_tiktok,
    split_count,
)
from daemon.fetch.retry import HttpReply
from daemon.fetch.tikhub import interpret_batch, interpret_one, interpret_statistics
from daemon.rules.links import VideoRef
from tests.fetch.fetching import cfg, fetch_all

PRICES = TikHubPrices()
SIZES = [1, 24, 25, 26, 49, 50, 51, 1000]


def reply(status: int, body: Any) -> HttpReply:
    text = body if isinstance(body, str) else json.dumps(body)
    return HttpReply(status, CIMultiDict(), text.encode())


def ok(data: dict[str, Any]) -> HttpReply:
    return reply(200, {"code": 200, "message": "Request successful.", "data": data})


def tt(i: int) -> VideoRef:
    return VideoRef("tt", str(7_300_000_000_000_000_000 + i))


def dy(i: int) -> VideoRef:
    return VideoRef("dy", str(7_100_000_000_000_000_000 + i))


# --- response shapes ----------------------------------------------------------


def test_batch_lists_deleted_id_in_filter_list_as_gone() -> None:
    ids = ["1", "2", "3"]
    answer = ok(
        {
            "aweme_details": [
                {"aweme_id": "1", "statistics": {"play_count": 10, "digg_count": 2}},
                {"aweme_id": 3, "statistics": {"play_count": "30"}},  # an integer id
            ],
            "filter_list": [{"aweme_id": "2", "reason": "deleted"}],
        }
    )
    results, stop = interpret_batch(TIKTOK_MULTI, ids, answer)
    assert stop is None
    assert results == {
        "1": FetchResult(FetchStatus.OK, VideoStats(10, 2)),
        "2": FetchResult(FetchStatus.GONE),
        "3": FetchResult(FetchStatus.OK, VideoStats(30)),
    }


def test_batch_missing_an_id_silently_is_gone() -> None:
    answer = ok({"aweme_details": [{"aweme_id": "1", "statistics": {"comment_count": 4}}]})
    results, _ = interpret_batch(DOUYIN_MULTI, ["1", "2"], answer)
    # Douyin details give comments and collects only (their play_count is no data).
    assert results == {
        "1": FetchResult(FetchStatus.OK, VideoStats(comments=4)),
        "2": FetchResult(FetchStatus.GONE),
    }


def test_douyin_detail_play_count_zero_is_no_data() -> None:
    detail = {"aweme_detail": {"statistics": {"play_count": 0, "collect_count": 5}}}
    result, _ = interpret_one(DOUYIN_ONE, ok(detail))
    assert result == FetchResult(FetchStatus.OK, VideoStats(views=None, collects=5))
    # TikTok details do carry views.
    result, _ = interpret_one(TIKTOK_ONE, ok(detail))
    assert result == FetchResult(FetchStatus.OK, VideoStats(views=0, collects=5))


@pytest.mark.parametrize("body", ["{", "[]", {"code": 200, "data": {}}, {"code": 500, "data": {}}])
def test_batch_junk_fails_every_id(body: Any) -> None:
    results, stop = interpret_batch(TIKTOK_MULTI, ["1", "2"], reply(200, body))
    assert stop is None
    assert {r.status for r in results.values()} == {FetchStatus.FAILED}


def test_statistics_list_missing_an_id_and_int_ids() -> None:
    answer = ok(
        {
            "statistics_list": [
                {"aweme_id": 1, "play_count": 0, "digg_count": 3, "share_count": "2"},
                {"aweme_id": "3", "play_count": 99, "download_count": 1},
            ]
        }
    )
    results, _ = interpret_statistics(["1", "2", "3"], answer)
    assert results == {
        "1": FetchResult(FetchStatus.OK, VideoStats(views=0, likes=3, shares=2)),
        "2": FetchResult(FetchStatus.GONE),
        "3": FetchResult(FetchStatus.OK, VideoStats(views=99)),
    }


@pytest.mark.parametrize(
    ("status", "stopped"), [(401, True), (402, True), (422, False), (404, False), (500, False)]
)
def test_batch_error_statuses(status: int, stopped: bool) -> None:
    results, stop = interpret_batch(TIKTOK_MULTI, ["1", "2"], reply(status, {"detail": {}}))
    expected = FetchStatus.STOPPED if stopped else FetchStatus.FAILED
    assert {r.status for r in results.values()} == {expected}
    assert (stop is not None) is stopped


async def test_fake_answers_an_oversized_batch_422(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    headers = {"Authorization": f"Bearer {providers.tikhub_key}"}
    async with aiohttp.ClientSession() as session:
        url = f"{base}/api/v1/tiktok/app/v3/fetch_multi_video_v2"
        async with session.post(url, json=[str(i) for i in range(26)], headers=headers) as r:
            assert r.status == 422
        url = f"{base}/api/v1/douyin/app/v3/fetch_multi_video_statistics"
        ids = ",".join(str(i) for i in range(51))
        async with session.get(url, params={"aweme_ids": ids}, headers=headers) as r:
            assert r.status == 422


async def test_a_422_fails_the_batch_without_retry_or_stop(
    fake: tuple[FakeProviders, str],
) -> None:
    providers, base = fake
    providers.fail_next(1, 422, endpoint=TIKTOK_MULTI)
    refs = [tt(i) for i in range(50)]
    for ref in refs:
        providers.videos[ref] = VideoStats(5)
    counters = FetchCounters()
    results = await fetch_all(refs, cfg(providers, base, concurrency=1), counters)
    statuses = [results[r].status for r in refs]
    assert statuses.count(FetchStatus.FAILED) == 25
    assert statuses.count(FetchStatus.OK) == 25
    assert counters.calls == {TIKTOK_MULTI: 2}
    assert counters.billed == {TIKTOK_MULTI: 1}


# --- Douyin: two calls, one video --------------------------------------------


def test_merge_douyin_halves() -> None:
    counts = FetchResult(FetchStatus.OK, VideoStats(views=9, likes=2, shares=1))
    detail = FetchResult(FetchStatus.OK, VideoStats(comments=3, collects=4))
    failed = FetchResult(FetchStatus.FAILED, error="x")
    gone = FetchResult(FetchStatus.GONE)
    stopped = FetchResult(FetchStatus.STOPPED, error="s")
    assert merge_douyin(counts, detail) == FetchResult(FetchStatus.OK, VideoStats(9, 2, 3, 1, 4))
    assert merge_douyin(failed, detail) == FetchResult(
        FetchStatus.OK, VideoStats(comments=3, collects=4), "x"
    )
    assert merge_douyin(counts, failed).stats == VideoStats(views=9, likes=2, shares=1)
    assert merge_douyin(counts, gone).status is FetchStatus.OK
    assert merge_douyin(gone, gone) == gone
    assert merge_douyin(failed, failed).status is FetchStatus.FAILED
    assert merge_douyin(gone, failed).status is FetchStatus.FAILED
    assert merge_douyin(failed, stopped).status is FetchStatus.STOPPED


async def test_douyin_views_come_from_statistics(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    providers.add_video("dy", dy(1).video_id, VideoStats(100, 10, 3, 2, 1))
    providers.add_video("dy", dy(2).video_id, None)
    results = await fetch_all([dy(1), dy(2)], cfg(providers, base))
    assert results == {
        dy(1): FetchResult(FetchStatus.OK, VideoStats(100, 10, 3, 2, 1)),
        dy(2): FetchResult(FetchStatus.GONE),
    }


async def test_douyin_statistics_failure_leaves_a_partial_result(
    fake: tuple[FakeProviders, str],
) -> None:
    providers, base = fake
    providers.add_video("dy", dy(1).video_id, VideoStats(100, 10, 3, 2, 1))
    providers.fail_next(None, 500, endpoint=DOUYIN_STATISTICS)
    results = await fetch_all([dy(1)], cfg(providers, base, max_retries=1))
    assert results[dy(1)].status is FetchStatus.OK
    assert results[dy(1)].stats == VideoStats(comments=3, collects=1)
    providers.fail_next(None, 500, endpoint=DOUYIN_ONE)
    results = await fetch_all([dy(1)], cfg(providers, base, max_retries=1))
    assert results[dy(1)].status is FetchStatus.FAILED


# --- the plan -------------------------------------------------------------------


def test_split_count_is_cheapest_then_fewest() -> None:
    single, batch = Decimal("0.001"), Decimal("0.025")
    assert split_count(24, single, batch, 25) == (0, 24)
    assert split_count(25, single, batch, 25) == (1, 0)  # a tie: one call
    assert split_count(26, single, batch, 25) == (1, 1)
    # A dear batch is never used; a cheap one covers any remainder.
    assert split_count(100, single, Decimal("0.03"), 25) == (0, 100)
    assert split_count(3, single, Decimal("0.002"), 25) == (1, 0)
    for n in range(0, 120):
        for price in ("0.001", "0.01", "0.025", "0.03"):
            b, s = split_count(n, single, Decimal(price), 25)
            assert b * 25 + s >= n
            cost = Decimal(price) * b + single * s
            assert cost == cheapest_spend(n, single, Decimal(price), 25)


@pytest.mark.parametrize("n", SIZES)
async def test_tiktok_calls_and_spend_are_the_cheapest_plan(
    fake: tuple[FakeProviders, str], n: int
) -> None:
    providers, base = fake
    refs = [tt(i) for i in range(n)]
    for ref in refs:
        providers.videos[ref] = VideoStats(1)
    results = await fetch_all(refs, cfg(providers, base, concurrency=32))
    assert all(r.status is FetchStatus.OK for r in results.values())
    cheapest = cheapest_spend(n, PRICES.tiktok_single, PRICES.tiktok_batch, 25)
    assert providers.tikhub_spend(PRICES) == cheapest
    full, rest = divmod(n, 25)
    # Full batches of 25 (a tie with 25 singles goes to one call), singles for the rest.
    assert providers.tikhub_calls() == {
        k: v for k, v in ((TIKTOK_MULTI, full), (TIKTOK_ONE, rest)) if v
    }
    assert all(len(r.ids) <= 25 for r in providers.requests)


@pytest.mark.parametrize("n", SIZES)
async def test_douyin_calls_and_spend_are_the_cheapest_plan(
    fake: tuple[FakeProviders, str], n: int
) -> None:
    providers, base = fake
    refs = [dy(i) for i in range(n)]
    for ref in refs:
        providers.videos[ref] = VideoStats(1, 2, 3, 4, 5)
    results = await fetch_all(refs, cfg(providers, base, concurrency=32))
    assert set(results.values()) == {FetchResult(FetchStatus.OK, VideoStats(1, 2, 3, 4, 5))}
    statistics = math.ceil(n / 50)
    cheapest = cheapest_spend(n, PRICES.douyin_single, PRICES.douyin_batch, 50)
    assert providers.tikhub_spend(PRICES) == cheapest + PRICES.douyin_statistics * statistics
    full, rest = divmod(n, 50)
    expected = {DOUYIN_STATISTICS: statistics, DOUYIN_MULTI: full, DOUYIN_ONE: rest}
    assert providers.tikhub_calls() == {k: v for k, v in expected.items() if v}
    assert all(len(r.ids) <= 50 for r in providers.requests)


def test_plan_never_exceeds_batch_limits_and_batching_off_is_singles() -> None:
    ids = [str(i) for i in range(1000)]
    for calls in (plan_tiktok(ids, PRICES), plan_douyin(ids, PRICES)):
        assert all(len(c.ids) <= BATCH_SIZE.get(c.endpoint, 1) for c in calls)
    off = plan_tiktok(ids, PRICES, batching=False)
    assert len(off) == 1000 and plan_spend(off, PRICES) == Decimal("1.000")
    assert plan_spend(plan_tiktok(ids, PRICES), PRICES) == Decimal("1.000")
    assert len(plan_tiktok(ids, PRICES)) == 40


# --- budget, stops, probe (in memory; the database gate has its own tests) --------


async def test_budget_stops_tikhub_and_is_never_passed(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    refs = [tt(i) for i in range(100)]
    for ref in refs:
        providers.videos[ref] = VideoStats(1)
    gate = MemoryGate(budget=Decimal("0.06"))
    counters = FetchCounters()
    async with aiohttp.ClientSession() as session:
        from daemon.fetch import fetch_videos

        results = {
            ref: result
            async for ref, result in fetch_videos(
                session, refs, cfg(providers, base, concurrency=4), counters, gate=gate
            )
        }
    assert providers.tikhub_spend(PRICES) == Decimal("0.050")  # two batches; a third passes
    statuses = [r.status for r in results.values()]
    assert statuses.count(FetchStatus.OK) == 50
    assert statuses.count(FetchStatus.STOPPED) == 50
    assert {r.error for r in results.values() if r.status is FetchStatus.STOPPED} == {BUDGET_REASON}
    assert "tikhub" in gate.stops


async def test_stored_stop_means_no_call_and_probe_lifts_it(
    fake: tuple[FakeProviders, str],
) -> None:
    providers, base = fake
    providers.add_video("tt", tt(1).video_id, VideoStats(1))
    gate = MemoryGate(stops={"tikhub": ("tikhub out of balance (402)", None)})
    config = cfg(providers, base)

    async def run() -> dict[VideoRef, FetchResult]:
        async with aiohttp.ClientSession() as session:
            from daemon.fetch import fetch_videos

            return {r: x async for r, x in fetch_videos(session, [tt(1)], config, gate=gate)}

    assert (await run())[tt(1)].status is FetchStatus.STOPPED
    assert providers.requests == []
    gate.probe_due = True  # the hour since the last probe has passed
    assert (await run())[tt(1)].status is FetchStatus.OK
    assert [r.endpoint for r in providers.requests] == ["tikhub_probe", TIKTOK_ONE]
    assert gate.stops == {}


def test_next_midnight_pacific_and_stats_zone() -> None:
    pacific = ZoneInfo("America/Los_Angeles")
    now = datetime(2026, 11, 29, 7, 59, tzinfo=UTC)  # 23:59 PST on the 28th
    assert next_midnight(pacific, now) == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert next_midnight(ZoneInfo("Asia/Shanghai"), now) == datetime(
        2026, 11, 29, 16, 0, tzinfo=UTC
    )
    # Across the spring DST change: midnight is 07:00 UTC after it.
    spring = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert next_midnight(pacific, spring) == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


def test_metrics_count_billed_calls_and_spend() -> None:
    from datetime import date

    from daemon.run.metrics import REGISTRY, record_scan
    from daemon.scan.day import ScanReport

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = value("dailystats_tikhub_spend_usd_total", endpoint="douyin_statistics")
    calls_before = value("dailystats_tikhub_calls_total", endpoint="douyin_statistics")
    report = ScanReport(run_id=1, stats_date=date(2024, 12, 9), trigger="test", status="succeeded")
    report.tikhub_spend = {"douyin_statistics": {"calls": 2, "usd": 0.05}}
    report.incomplete_providers = ["tikhub"]
    record_scan(report, 0.0)
    after = value("dailystats_tikhub_spend_usd_total", endpoint="douyin_statistics")
    assert after - before == pytest.approx(0.05)
    assert value("dailystats_tikhub_calls_total", endpoint="douyin_statistics") - calls_before == 2
    assert value("dailystats_scan_incomplete_total", provider="tikhub") >= 1


def test_settings_make_a_fetch_config_even_without_keys() -> None:
    from daemon.run.pipeline import fetch_config
    from daemon.settings import load_settings

    base = {"database_url": "postgresql://x@127.0.0.1/x"}
    config = fetch_config(load_settings(**base, youtube_api_key="", tikhub_api_key=""))
    assert isinstance(config, FetchConfig)
    assert (config.youtube_api_key, config.tikhub_api_key) == (None, None)
    assert not config.tikhub_enabled and config.tikhub_batch
    assert config.tikhub_prices == PRICES
    settings = load_settings(
        **base,
        tikhub_daily_budget_usd="",
        tikhub_price_douyin_statistics="0.02",
        tikhub_batch="false",
    )
    assert settings.tikhub_daily_budget_usd is None
    config = fetch_config(settings)
    assert config.tikhub_prices.douyin_statistics == Decimal("0.02") and not config.tikhub_batch
    assert load_settings(**base, tikhub_daily_budget_usd="2.5").tikhub_daily_budget_usd == Decimal(
        "2.5"
    )


async def test_batch_429_and_5xx_are_retried_and_only_the_200_billed(
    fake: tuple[FakeProviders, str],
) -> None:
    providers, base = fake
    refs = [dy(i) for i in range(50)]
    for ref in refs:
        providers.videos[ref] = VideoStats(1, 2, 3, 4, 5)
    providers.fail_next(1, 429, endpoint=DOUYIN_MULTI, retry_after="0")
    providers.fail_next(1, 503, endpoint=DOUYIN_STATISTICS)
    counters = FetchCounters()
    results = await fetch_all(refs, cfg(providers, base), counters)
    assert set(results.values()) == {FetchResult(FetchStatus.OK, VideoStats(1, 2, 3, 4, 5))}
    assert counters.retries == {DOUYIN_MULTI: 1, DOUYIN_STATISTICS: 1}
    assert counters.billed == {DOUYIN_MULTI: 1, DOUYIN_STATISTICS: 1}
    assert providers.tikhub_spend(PRICES) == PRICES.douyin_batch + PRICES.douyin_statistics
