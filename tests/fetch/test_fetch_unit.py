"""The HTTP side of video stats against mocked responses (aioresponses): every shape."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

import daemon.fetch.retry as retry_module
from daemon.fetch import (
    QUOTA_ERROR,
    FetchConfig,
    FetchCounters,
    FetchResult,
    FetchStatus,
    RateLimiter,
    ResolveResult,
    VideoStats,
    backoff_delay,
    usable_count,
)
from daemon.rules.links import VideoRef
from tests.fetch.fetching import fetch_all, resolve_all

YT_URL = "https://yt.test/youtube/v3"
TH_URL = "https://th.test"
YT_RE = re.compile(r"^https://yt\.test/youtube/v3/videos\?.*$")
TT_RE = re.compile(r"^https://th\.test/api/v1/tiktok/app/v3/fetch_one_video\?.*$")
DY_RE = re.compile(r"^https://th\.test/api/v1/douyin/app/v3/fetch_one_video\?.*$")
STATS_RE = re.compile(r"^https://th\.test/api/v1/douyin/app/v3/fetch_multi_video_statistics\?.*$")
QUOTA_BODY = {"error": {"code": 403, "errors": [{"reason": "quotaExceeded"}]}}


def config(**overrides: Any) -> FetchConfig:
    base: dict[str, Any] = {
        "youtube_api_url": YT_URL,
        "youtube_api_key": "yt-secret",
        "tikhub_api_url": TH_URL,
        "tikhub_api_key": "th-secret",
        "tikhub_rate_per_second": 0.0,
        "backoff_base_seconds": 0.001,
        "backoff_cap_seconds": 0.002,
    }
    base.update(overrides)
    return FetchConfig(**base)


def yt(i: int | str) -> VideoRef:
    return VideoRef("yt", f"vid{i:08d}" if isinstance(i, int) else i)


def tt(i: int) -> VideoRef:
    return VideoRef("tt", str(7_300_000_000_000_000_000 + i))


def dy(i: int) -> VideoRef:
    return VideoRef("dy", str(7_100_000_000_000_000_000 + i))


def youtube_callback(
    statistics: dict[str, dict[str, Any] | None], asked: list[list[str]] | None = None
) -> Callable[..., CallbackResult]:
    """Answers with the statistics of the asked ids that exist (None: left out, i.e. gone)."""

    def callback(url: URL, **kwargs: Any) -> CallbackResult:
        ids = url.query["id"].split(",")
        assert url.query["part"] == "statistics"
        assert url.query["key"] == "yt-secret"
        if asked is not None:
            asked.append(ids)
        items = [
            {"id": i, "statistics": statistics[i]} for i in ids if statistics.get(i) is not None
        ]
        return CallbackResult(status=200, payload={"items": items})

    return callback


def tikhub_payload(statistics: dict[str, Any] | None) -> dict[str, Any]:
    detail = None if statistics is None else {"statistics": statistics}
    return {"code": 200, "message": "ok", "data": {"aweme_detail": detail}}


class _CompatClientResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required ``stream_writer`` argument
    (pnuckowski/aioresponses#289); a mocked response has already been "sent", so a
    writer reporting zero bytes is all the constructor needs."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_compat(monkeypatch: pytest.MonkeyPatch) -> None:
    import aioresponses.core

    if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry pauses, recorded instead of slept: tests see the delays and never wait."""
    recorded: list[float] = []

    async def fake_pause(delay: float, breaker: object) -> None:
        recorded.append(delay)

    monkeypatch.setattr(retry_module, "_pause", fake_pause)
    return recorded


def total_calls(m: aioresponses) -> int:
    return sum(len(calls) for calls in m.requests.values())


# --- YouTube -----------------------------------------------------------------


async def test_youtube_counts_as_strings_absent_and_junk() -> None:
    stats: dict[str, dict[str, Any] | None] = {
        yt(1).video_id: {"viewCount": "1000", "likeCount": "50", "commentCount": "7"},
        yt(2).video_id: {"viewCount": "12"},  # hidden likes, no comments
        yt(3).video_id: {"viewCount": "12a", "likeCount": "-1", "commentCount": ""},
        yt(4).video_id: {"viewCount": 5, "likeCount": True, "commentCount": " 3"},
    }
    with aioresponses() as m:
        m.get(YT_RE, callback=youtube_callback(stats))
        results = await fetch_all([yt(1), yt(2), yt(3), yt(4)], config())
    assert results[yt(1)] == FetchResult(FetchStatus.OK, VideoStats(1000, 50, 7, None, None))
    # Hidden likes and comments are a fresh 0; junk that is there stays unknown.
    assert results[yt(2)] == FetchResult(FetchStatus.OK, VideoStats(12, 0, 0))
    assert results[yt(3)] == FetchResult(FetchStatus.OK, VideoStats(None, None, None))
    assert results[yt(4)] == FetchResult(FetchStatus.OK, VideoStats(5, None, None))


async def test_youtube_missing_from_items_is_gone() -> None:
    with aioresponses() as m:
        m.get(YT_RE, callback=youtube_callback({yt(1).video_id: {"viewCount": "1"}}))
        results = await fetch_all([yt(1), yt(2)], config())
    assert results[yt(1)].status is FetchStatus.OK
    assert results[yt(2)] == FetchResult(FetchStatus.GONE)


async def test_youtube_item_without_statistics_fails() -> None:
    with aioresponses() as m:
        m.get(YT_RE, payload={"items": [{"id": yt(1).video_id}]})
        results = await fetch_all([yt(1)], config())
    assert results[yt(1)].status is FetchStatus.FAILED


async def test_youtube_batches_fifty_ids_a_call_and_dedupes() -> None:
    refs = [yt(i) for i in range(120)]
    asked: list[list[str]] = []
    counters = FetchCounters()
    with aioresponses() as m:
        stats: dict[str, dict[str, Any] | None] = {r.video_id: {"viewCount": "1"} for r in refs}
        m.get(YT_RE, callback=youtube_callback(stats, asked), repeat=True)
        results = await fetch_all(refs + refs[:30], config(), counters)
    assert len(results) == 120
    assert sorted(len(ids) for ids in asked) == [20, 50, 50]
    flat = [i for ids in asked for i in ids]
    assert sorted(flat) == sorted(r.video_id for r in refs)
    assert counters.calls["youtube"] == 3
    assert counters.ids["youtube"] == 120


async def test_youtube_429_honours_retry_after(pauses: list[float]) -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(YT_RE, status=429, headers={"Retry-After": "2"})
        m.get(YT_RE, callback=youtube_callback({yt(1).video_id: {"viewCount": "9"}}))
        results = await fetch_all([yt(1)], config(), counters)
    assert results[yt(1)] == FetchResult(FetchStatus.OK, VideoStats(9, 0, 0))
    assert pauses == [2.0]
    assert counters.calls["youtube"] == 2
    assert counters.retries["youtube"] == 1


async def test_retry_after_is_capped(pauses: list[float]) -> None:
    with aioresponses() as m:
        m.get(TT_RE, status=429, headers={"Retry-After": "3600"})
        m.get(TT_RE, payload=tikhub_payload({"play_count": 1}))
        results = await fetch_all([tt(1)], config(retry_after_cap_seconds=5))
    assert results[tt(1)].status is FetchStatus.OK
    assert pauses == [5.0]


async def test_500_then_success_backs_off_within_bounds(pauses: list[float]) -> None:
    cfg = config(backoff_base_seconds=0.25, backoff_cap_seconds=10)
    with aioresponses() as m:
        m.get(YT_RE, status=500)
        m.get(YT_RE, status=503)
        m.get(YT_RE, callback=youtube_callback({yt(1).video_id: {"viewCount": "3"}}))
        results = await fetch_all([yt(1)], cfg)
    assert results[yt(1)].status is FetchStatus.OK
    assert len(pauses) == 2
    assert 0 <= pauses[0] <= 0.25
    assert 0 <= pauses[1] <= 0.5


async def test_5xx_until_retries_run_out_fails(pauses: list[float]) -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(TT_RE, status=502, repeat=True)
        results = await fetch_all([tt(1)], config(max_retries=2), counters)
    assert results[tt(1)].status is FetchStatus.FAILED
    assert "502" in (results[tt(1)].error or "")
    assert counters.calls["tiktok"] == 3
    assert counters.retries["tiktok"] == 2
    assert counters.failures["tiktok"] == 1


async def test_youtube_quota_stops_youtube_without_retry() -> None:
    refs = [yt(i) for i in range(120)]
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(YT_RE, status=403, payload=QUOTA_BODY, repeat=True)
        m.get(TT_RE, payload=tikhub_payload({"play_count": 4}), repeat=True)
        # concurrency=1: no second batch is in flight when the first one hears "quota".
        results = await fetch_all([*refs, tt(1)], config(concurrency=1), counters)
    assert counters.calls["youtube"] == 1
    assert counters.retries["youtube"] == 0
    assert all(results[r] == FetchResult(FetchStatus.STOPPED, error=QUOTA_ERROR) for r in refs)
    # Not asked because YouTube stopped: STOPPED, not a fetch failure.
    assert counters.failures["youtube"] == 0
    # Quota is YouTube's business: TikHub carries on.
    assert results[tt(1)].status is FetchStatus.OK


async def test_youtube_daily_limit_also_stops() -> None:
    body = {"error": {"code": 403, "errors": [{"reason": "dailyLimitExceeded"}]}}
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(YT_RE, status=403, payload=body, repeat=True)
        results = await fetch_all([yt(i) for i in range(60)], config(concurrency=1), counters)
    assert counters.calls["youtube"] == 1
    assert {r.error for r in results.values()} == {QUOTA_ERROR}


async def test_youtube_invalid_key_stops_youtube() -> None:
    body = {
        "error": {
            "code": 400,
            "errors": [{"reason": "badRequest"}],
            "details": [{"reason": "API_KEY_INVALID"}],
        }
    }
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(YT_RE, status=400, payload=body, repeat=True)
        results = await fetch_all([yt(i) for i in range(60)], config(concurrency=1), counters)
    assert counters.calls["youtube"] == 1
    assert all(r.status is FetchStatus.FAILED for r in results.values())
    assert all("yt-secret" not in (r.error or "") for r in results.values())


async def test_youtube_other_4xx_fails_only_that_batch() -> None:
    refs = [yt(i) for i in range(60)]
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(YT_RE, status=400, payload={"error": {"errors": [{"reason": "badRequest"}]}})
        stats: dict[str, dict[str, Any] | None] = {r.video_id: {"viewCount": "1"} for r in refs}
        m.get(YT_RE, callback=youtube_callback(stats))
        results = await fetch_all(refs, config(concurrency=1), counters)
    statuses = [results[r].status for r in refs]
    assert statuses.count(FetchStatus.FAILED) == 50
    assert statuses.count(FetchStatus.OK) == 10
    assert counters.calls["youtube"] == 2
    assert counters.retries["youtube"] == 0


@pytest.mark.parametrize(
    "body",
    ["not json", '{"items": "nope"}', "[1, 2]", '{"kind": "youtube#videoListResponse"}'],
)
async def test_youtube_malformed_body_fails(body: str) -> None:
    with aioresponses() as m:
        m.get(YT_RE, status=200, body=body)
        results = await fetch_all([yt(1)], config())
    assert results[yt(1)].status is FetchStatus.FAILED


# --- TikHub ------------------------------------------------------------------


async def test_tikhub_tiktok_and_douyin_stats() -> None:
    counters = FetchCounters()
    seen_headers: list[str] = []

    def tt_callback(url: URL, **kwargs: Any) -> CallbackResult:
        seen_headers.append(kwargs["headers"]["Authorization"])
        assert url.query["aweme_id"] == tt(1).video_id
        stats = {
            "play_count": 100,
            "digg_count": 10,
            "comment_count": 3,
            "share_count": 2,
            "collect_count": 1,
        }
        return CallbackResult(payload=tikhub_payload(stats))

    with aioresponses() as m:
        m.get(TT_RE, callback=tt_callback)
        junk = {
            "play_count": True,
            "digg_count": -5,
            "comment_count": "12",
            "share_count": 1.5,
            "collect_count": None,
        }
        m.get(DY_RE, payload=tikhub_payload(junk))
        counts = {"aweme_id": int(dy(1).video_id), "play_count": 0, "digg_count": "7"}
        m.get(STATS_RE, payload={"code": 200, "data": {"statistics_list": [counts]}})
        results = await fetch_all([tt(1), dy(1)], config(), counters)
    assert results[tt(1)] == FetchResult(FetchStatus.OK, VideoStats(100, 10, 3, 2, 1))
    # Douyin: views and likes from the statistics endpoint (0 there is a real 0),
    # comments from the detail; the detail's junk play_count is never read.
    assert results[dy(1)] == FetchResult(FetchStatus.OK, VideoStats(0, 7, 12, None, None))
    assert seen_headers == ["Bearer th-secret"]
    assert counters.calls == {"tiktok": 1, "douyin": 1, "douyin_statistics": 1}
    assert counters.billed == {"tiktok": 1, "douyin": 1, "douyin_statistics": 1}


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (200, {"code": 200, "data": {"aweme_detail": None}}),
        (200, {"code": 200, "data": {}}),
        (404, {"detail": {"code": 404, "message": "not found"}}),
        (200, {"code": 404, "message": "video not found", "data": None}),
        (400, {"detail": {"code": 404, "message": "video not found"}}),
    ],
)
async def test_tikhub_not_found_is_gone(status: int, payload: dict[str, Any]) -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(TT_RE, status=status, payload=payload)
        results = await fetch_all([tt(1)], config(), counters)
    assert results[tt(1)] == FetchResult(FetchStatus.GONE)
    assert counters.calls["tiktok"] == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [(401, "tikhub key rejected (401)"), (402, "tikhub out of balance (402)")],
)
async def test_tikhub_401_402_stop_both_endpoints(status: int, reason: str) -> None:
    refs = [tt(i) for i in range(5)] + [dy(i) for i in range(5)]
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(TT_RE, status=status, payload={"detail": {"code": status}}, repeat=True)
        m.get(DY_RE, status=status, payload={"detail": {"code": status}}, repeat=True)
        results = await fetch_all(refs, config(concurrency=1), counters)
    assert sum(counters.calls.values()) == 1
    assert sum(counters.retries.values()) == 0
    assert all(results[r] == FetchResult(FetchStatus.STOPPED, error=reason) for r in refs)
    assert counters.failures["tiktok"] + counters.failures["douyin"] == 0
    assert sum(counters.billed.values()) == 0


async def test_tikhub_stop_wakes_requests_in_backoff() -> None:
    """A request sleeping on a long Retry-After learns of a 402 without waiting it out."""
    cfg = config(concurrency=2, retry_after_cap_seconds=3600)
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(TT_RE, status=429, headers={"Retry-After": "3600"})
        m.get(DY_RE, status=402, payload={"detail": {"code": 402}})
        results = await asyncio.wait_for(fetch_all([tt(1), dy(1)], cfg, counters), timeout=30)
    assert results[tt(1)] == FetchResult(FetchStatus.STOPPED, error="tikhub out of balance (402)")
    assert counters.calls["tiktok"] == counters.calls["douyin"] == 1


async def test_tikhub_other_4xx_fails_without_retry() -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(TT_RE, status=400, payload={"detail": {"code": 400, "message": "bad"}})
        m.get(TT_RE, payload=tikhub_payload({"play_count": 1}))
        results = await fetch_all([tt(1), tt(2)], config(concurrency=1), counters)
    assert [results[tt(1)].status, results[tt(2)].status] == [FetchStatus.FAILED, FetchStatus.OK]
    assert counters.retries["tiktok"] == 0


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "[]",
        '{"code": 200, "data": "x"}',
        '{"code": 200, "data": {"aweme_detail": {}}}',
        '{"code": 500, "data": {"aweme_detail": null}}',
    ],
)
async def test_tikhub_malformed_body_fails(body: str) -> None:
    with aioresponses() as m:
        m.get(DY_RE, status=200, body=body)
        results = await fetch_all([dy(1)], config())
    assert results[dy(1)].status is FetchStatus.FAILED


async def test_tikhub_429_then_success(pauses: list[float]) -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(DY_RE, status=429, headers={"Retry-After": "1"})
        m.get(DY_RE, status=429)
        m.get(DY_RE, payload=tikhub_payload({"play_count": 8}))
        results = await fetch_all([dy(1)], config(), counters)
    assert results[dy(1)].status is FetchStatus.OK
    assert pauses[0] == 1.0
    assert 0 <= pauses[1] <= 0.002
    assert counters.retries["douyin"] == 2


# --- transport failures, keys, dedupe ----------------------------------------


async def test_timeout_retries_then_fails(pauses: list[float]) -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(TT_RE, exception=TimeoutError(), repeat=True)
        results = await fetch_all([tt(1)], config(max_retries=3), counters)
    assert results[tt(1)].status is FetchStatus.FAILED
    assert counters.calls["tiktok"] == 4
    assert counters.retries["tiktok"] == 3
    assert len(pauses) == 3


async def test_connection_error_then_success(pauses: list[float]) -> None:
    with aioresponses() as m:
        m.get(YT_RE, exception=aiohttp.ClientConnectionError("reset"))
        m.get(YT_RE, callback=youtube_callback({yt(1).video_id: {"viewCount": "1"}}))
        results = await fetch_all([yt(1)], config())
    assert results[yt(1)].status is FetchStatus.OK
    assert len(pauses) == 1


async def test_errors_never_carry_the_key(pauses: list[float]) -> None:
    with aioresponses() as m:
        m.get(YT_RE, exception=aiohttp.ClientConnectionError("boom at key=yt-secret"), repeat=True)
        results = await fetch_all([yt(1)], config())
    error = results[yt(1)].error or ""
    assert "boom" in error
    assert "yt-secret" not in error


@pytest.mark.parametrize("key", [None, "", "   "])
async def test_provider_without_key_makes_no_calls(key: str | None) -> None:
    refs = [yt(1), yt(2), tt(1), dy(1)]
    counters = FetchCounters()
    with aioresponses() as m:
        results = await fetch_all(refs, config(youtube_api_key=key, tikhub_api_key=key), counters)
        assert m.requests == {}
    assert all(results[r] == FetchResult(FetchStatus.DISABLED) for r in refs)
    assert sum(counters.calls.values()) == 0


async def test_one_provider_disabled_other_runs() -> None:
    with aioresponses() as m:
        m.get(TT_RE, payload=tikhub_payload({"play_count": 1}))
        results = await fetch_all([yt(1), tt(1)], config(youtube_api_key=None))
        assert total_calls(m) == 1
    assert results[yt(1)].status is FetchStatus.DISABLED
    assert results[tt(1)].status is FetchStatus.OK


async def test_each_distinct_ref_asked_once() -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.get(TT_RE, payload=tikhub_payload({"play_count": 1}), repeat=True)
        results = await fetch_all([tt(1), tt(1), tt(2), tt(1), tt(2)], config(), counters)
        assert total_calls(m) == 2
    assert set(results) == {tt(1), tt(2)}


async def test_stray_platform_fails_without_a_call() -> None:
    stray = VideoRef("ig", "123")  # type: ignore[arg-type]
    with aioresponses() as m:
        results = await fetch_all([stray], config())
        assert m.requests == {}
    assert results[stray].status is FetchStatus.FAILED


async def test_empty_input_yields_nothing() -> None:
    with aioresponses() as m:
        assert await fetch_all([], config()) == {}
        assert m.requests == {}


# --- short links ---------------------------------------------------------------

VIDEO_TT = "https://www.tiktok.com/@someone/video/7301234567890123456?_r=1"


async def test_resolve_head_redirect_to_video() -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.head("https://vm.tiktok.com/ZMabc/", status=301, headers={"Location": VIDEO_TT})
        out = await resolve_all(["https://vm.tiktok.com/ZMabc/"], config(), counters)
    assert out["https://vm.tiktok.com/ZMabc/"] == ResolveResult(
        VideoRef("tt", "7301234567890123456"), True
    )
    assert counters.calls["resolve"] == 1


async def test_resolve_falls_back_to_get_and_follows_relative_hops() -> None:
    with aioresponses() as m:
        m.head("https://v.douyin.com/iRN/", status=405)
        m.get("https://v.douyin.com/iRN/", status=302, headers={"Location": "/hop/"})
        m.head(
            "https://v.douyin.com/hop/",
            status=302,
            headers={"Location": "https://www.iesdouyin.com/share/video/7123456789/?region=CN"},
        )
        out = await resolve_all(["v.douyin.com/iRN/"], config())
    assert out["v.douyin.com/iRN/"] == ResolveResult(VideoRef("dy", "7123456789"), True)


async def test_resolve_redirect_off_platform_stops() -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.head("https://vm.tiktok.com/ZMx/", status=302, headers={"Location": "https://evil.test/"})
        out = await resolve_all(["https://vm.tiktok.com/ZMx/"], config(), counters)
        assert total_calls(m) == 1
    result = out["https://vm.tiktok.com/ZMx/"]
    # Not followed, and not an answer to remember: asked again at the next scan.
    assert result.ref is None and not result.resolved


async def test_resolve_network_failure_is_unresolved(pauses: list[float]) -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.head(
            "https://vm.tiktok.com/ZMy/",
            exception=aiohttp.ClientConnectionError("down"),
            repeat=True,
        )
        out = await resolve_all(["https://vm.tiktok.com/ZMy/"], config(), counters)
    assert out["https://vm.tiktok.com/ZMy/"].resolved is False
    assert counters.failures["resolve"] == 1
    assert counters.calls["resolve"] == 4


async def test_resolve_404_from_the_shortener_is_asked_again_later() -> None:
    with aioresponses() as m:
        m.head("https://vm.tiktok.com/gone/", status=404)
        m.get("https://vm.tiktok.com/gone/", status=404)
        out = await resolve_all(["https://vm.tiktok.com/gone/"], config())
    assert out["https://vm.tiktok.com/gone/"] == ResolveResult(None, False, "http 404")


async def test_resolve_landing_page_is_not_a_video() -> None:
    with aioresponses() as m:
        m.head(
            "https://vm.tiktok.com/ZMz/",
            status=301,
            headers={"Location": "https://www.tiktok.com/"},
        )
        m.head("https://www.tiktok.com/", status=200)
        out = await resolve_all(["https://vm.tiktok.com/ZMz/"], config())
    assert out["https://vm.tiktok.com/ZMz/"] == ResolveResult(
        None, True, "does not lead to a video"
    )


# Only definitive answers are remembered (spec section 3).


async def test_a_block_page_at_the_short_link_is_not_an_answer() -> None:
    with aioresponses() as m:
        m.head("https://vm.tiktok.com/ZMb/", status=200, body="<html>verify you are human")
        out = await resolve_all(["https://vm.tiktok.com/ZMb/"], config())
    assert out["https://vm.tiktok.com/ZMb/"] == ResolveResult(
        None, False, "http 200 without a redirect"
    )


@pytest.mark.parametrize("status", [404, 410])
async def test_a_platform_page_that_is_not_a_video_is_an_answer(status: int) -> None:
    with aioresponses() as m:
        m.head(
            "https://vm.tiktok.com/ZMp/",
            status=302,
            headers={"Location": "https://www.tiktok.com/foryou"},
        )
        m.head("https://www.tiktok.com/foryou", status=status)
        m.get("https://www.tiktok.com/foryou", status=status)
        out = await resolve_all(["https://vm.tiktok.com/ZMp/"], config())
    assert out["https://vm.tiktok.com/ZMp/"] == ResolveResult(
        None, True, "does not lead to a video"
    )


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_platform_page_that_fails_is_not_an_answer(status: int) -> None:
    with aioresponses() as m:
        m.head(
            "https://vm.tiktok.com/ZMq/",
            status=302,
            headers={"Location": "https://www.tiktok.com/foryou"},
        )
        m.head("https://www.tiktok.com/foryou", status=status, repeat=True)
        out = await resolve_all(["https://vm.tiktok.com/ZMq/"], config())
    assert out["https://vm.tiktok.com/ZMq/"] == ResolveResult(None, False, f"http {status}")


async def test_a_hop_to_another_short_link_that_answers_200_is_not_an_answer() -> None:
    with aioresponses() as m:
        m.head(
            "https://vm.tiktok.com/ZMr/",
            status=302,
            headers={"Location": "https://www.tiktok.com/t/ZTr/"},
        )
        m.head("https://www.tiktok.com/t/ZTr/", status=200)
        out = await resolve_all(["https://vm.tiktok.com/ZMr/"], config())
    assert out["https://vm.tiktok.com/ZMr/"] == ResolveResult(
        None, False, "http 200 without a redirect"
    )


async def test_resolve_gives_up_after_five_hops() -> None:
    counters = FetchCounters()
    with aioresponses() as m:
        m.head(
            "https://vm.tiktok.com/loop/",
            status=302,
            headers={"Location": "/loop/"},
            repeat=True,
        )
        out = await resolve_all(["https://vm.tiktok.com/loop/"], config(), counters)
    assert out["https://vm.tiktok.com/loop/"].resolved is False
    assert counters.calls["resolve"] == 5


async def test_resolve_needs_no_http_for_full_or_foreign_links() -> None:
    links = [VIDEO_TT, "https://instagram.com/p/x", "https://vm.tiktok.com/ZMq/", VIDEO_TT]
    with aioresponses() as m:
        m.head("https://vm.tiktok.com/ZMq/", status=302, headers={"Location": VIDEO_TT})
        out = await resolve_all(links, config())
        assert total_calls(m) == 1
    assert out[VIDEO_TT].ref == VideoRef("tt", "7301234567890123456")
    assert out["https://instagram.com/p/x"] == ResolveResult(
        None, True, "leads off the platforms to instagram.com"
    )


# --- pure helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "rand", "expected"),
    [
        (0, 0.5, 30.0, 0.5, 0.25),
        (0, 0.5, 30.0, 0.0, 0.0),
        (1, 0.5, 30.0, 1.0, 1.0),
        (3, 0.5, 30.0, 1.0, 4.0),
        (10, 0.5, 30.0, 1.0, 30.0),
        (10, 0.5, 30.0, 0.5, 15.0),
        (5000, 1.0, 10.0, 0.5, 5.0),  # no float overflow for huge attempts
        (-1, 1.0, 10.0, 1.0, 1.0),
        (2, 0.0, 10.0, 1.0, 0.0),
    ],
)
def test_backoff_delay(attempt: int, base: float, cap: float, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, base, cap, lambda: rand) == pytest.approx(expected)


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=1000),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_delay_stays_within_full_jitter_bounds(
    attempt: int, base: float, cap: float, rand: float
) -> None:
    delay = backoff_delay(attempt, base, cap, lambda: rand)
    assert 0 <= delay <= cap


NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (12, 12),
        ("12", 12),
        ("0012", 12),
        (2**63 - 1, 2**63 - 1),
        (str(2**63 - 1), 2**63 - 1),
        (2**63, None),
        (str(2**63), None),
        ("9" * 5000, None),
        (-1, None),
        (True, None),
        (1.0, 1),
        (100000.0, 100000),
        (1e5, 100000),
        (-0.0, 0),
        (1.5, None),
        (-1.0, None),
        (float("inf"), None),
        (float("nan"), None),
        (9.223372036854776e18, None),  # 2^63, printed as ...776e18: past the ceiling
        ("1e5", None),
        (" 12", None),
        ("", None),
        ("١٢", None),  # Arabic-Indic digits
        (None, None),
        ({"n": 1}, None),
    ],
)
def test_usable_count(value: object, expected: int | None) -> None:
    assert usable_count(value) == expected


class VirtualTime:
    """A clock that moves only when someone sleeps: rate-limit tests without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


async def test_rate_limiter_spaces_starts_first_come_first_served() -> None:
    time = VirtualTime()
    limiter = RateLimiter(10, clock=time.clock, sleep=time.sleep)
    starts: list[tuple[int, float]] = []

    async def worker(i: int) -> None:
        await limiter.acquire()
        starts.append((i, time.now))

    await asyncio.gather(*(worker(i) for i in range(5)))
    assert [i for i, _ in starts] == [0, 1, 2, 3, 4]
    assert [t - 100.0 for _, t in starts] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


async def test_rate_limiter_turn_not_used_when_then_raises() -> None:
    time = VirtualTime()
    limiter = RateLimiter(2, clock=time.clock, sleep=time.sleep)

    async def refuse() -> None:
        raise RuntimeError("no slot")

    await limiter.acquire()
    with pytest.raises(RuntimeError):
        await limiter.acquire(refuse)  # waits its turn, then gives it back unused
    waited = len(time.sleeps)
    await limiter.acquire()  # the turn it gave back is still free
    assert len(time.sleeps) == waited
    await limiter.acquire()
    assert time.sleeps[-1] == pytest.approx(0.5)


async def test_rate_limiter_zero_is_unlimited() -> None:
    time = VirtualTime()
    limiter = RateLimiter(0, clock=time.clock, sleep=time.sleep)
    assert limiter.unlimited
    for _ in range(100):
        await limiter.acquire()
    assert time.sleeps == []


def test_rate_limiter_rejects_negative_rate() -> None:
    with pytest.raises(ValueError):
        RateLimiter(-1)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        FetchConfig(concurrency=0)
    with pytest.raises(ValueError):
        FetchConfig(tikhub_rate_per_second=-1)
