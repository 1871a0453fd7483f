"""fetch_videos and resolve_short_links against the real fake providers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import bisect

import aiohttp

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import (
    QUOTA_ERROR,
    FetchCounters,
    FetchResult,
    FetchStatus,
    ResolveResult,
    VideoStats,
    fetch_videos,
)
from daemon.rules.links import VideoRef
from tests.fetch.fetching import cfg, fetch_all, resolve_all


def yt(i: int) -> VideoRef:
    return VideoRef("yt", f"yt{i:09d}")


def tt(i: int) -> VideoRef:
    return VideoRef("tt", str(7_300_000_000_000_000_000 + i))


def dy(i: int) -> VideoRef:
    return VideoRef("dy", str(7_100_000_000_000_000_000 + i))


def max_in_any_window(times: list[float], width: float) -> int:
    """The most timestamps that fall in any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0
    )


async def test_every_platform_batched_and_each_video_asked_once(
    fake: tuple[FakeProviders, str],
) -> None:
    providers, base = fake
    refs = [yt(i) for i in range(120)] + [tt(i) for i in range(30)] + [dy(i) for i in range(30)]
    for i, ref in enumerate(refs):
        # Every tenth video is deleted; YouTube likes hidden on odd ones.
        hidden = ref.platform == "yt" and i % 2 == 1
        stats = VideoStats(i, None if hidden else i + 1, i + 2, i + 3, i + 4)
        providers.videos[ref] = None if i % 10 == 0 else stats
    counters = FetchCounters()

    results = await fetch_all(refs + refs[::3], cfg(providers, base, concurrency=8), counters)

    assert set(results) == set(refs)
    for i, ref in enumerate(refs):
        if i % 10 == 0:
            assert results[ref] == FetchResult(FetchStatus.GONE)
        elif ref.platform == "yt":
            likes = 0 if i % 2 else i + 1  # hidden: a fresh 0 (spec section 3)
            assert results[ref] == FetchResult(FetchStatus.OK, VideoStats(i, likes, i + 2))
        else:
            assert results[ref] == FetchResult(
                FetchStatus.OK, VideoStats(i, i + 1, i + 2, i + 3, i + 4)
            )
    youtube_calls = providers.requests_to("youtube")
    assert sorted(len(r.ids) for r in youtube_calls) == [20, 50, 50]
    assert providers.asked() == dict.fromkeys(refs, 1)
    # 25 + 5 TikTok: one batch and five singles; 30 Douyin: one statistics call and
    # 30 singles (30 x $0.001 < one $0.05 batch).
    assert counters.calls == {
        "youtube": 3,
        "tiktok_multi": 1,
        "tiktok": 5,
        "douyin_statistics": 1,
        "douyin": 30,
    }
    assert providers.max_in_flight <= 8


async def test_one_bound_on_all_calls_in_flight(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    providers.latency = 0.02
    refs = [tt(i) for i in range(20)] + [dy(i) for i in range(20)] + [yt(i) for i in range(200)]
    await fetch_all(refs, cfg(providers, base, concurrency=3))
    assert 1 <= providers.max_in_flight <= 3


async def test_tikhub_rate_limit_per_endpoint(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    refs = [tt(i) for i in range(25)] + [dy(i) for i in range(25)]
    for ref in refs:
        providers.videos[ref] = VideoStats(1)
    rate = 10.0
    # Batching off: one call per video, enough calls per endpoint to see the limit.
    config = cfg(providers, base, tikhub_rate_per_second=rate, concurrency=16, tikhub_batch=False)
    results = await fetch_all(refs, config)
    assert all(r.status is FetchStatus.OK for r in results.values())
    tiktok = [r.at for r in providers.requests_to("tiktok")]
    douyin = [r.at for r in providers.requests_to("douyin")]
    assert len(tiktok) == len(douyin) == 25
    # A minimum interval of 1/rate allows at most rate + 1 starts in any second.
    assert max_in_any_window(tiktok, 1.0) <= rate + 1
    assert max_in_any_window(douyin, 1.0) <= rate + 1
    # The endpoints are limited separately, so they ran side by side, not one after the other.
    assert min(douyin) < max(tiktok)
    assert min(tiktok) < max(douyin)


async def test_5xx_and_429_are_retried(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    refs = [tt(i) for i in range(5)] + [dy(i) for i in range(5)] + [yt(i) for i in range(5)]
    for ref in refs:
        providers.videos[ref] = VideoStats(7)
    providers.fail_next(2, 500, endpoint="tiktok")
    providers.fail_next(1, 429, endpoint="douyin", retry_after="0")
    providers.fail_next(1, 503, endpoint="youtube")
    counters = FetchCounters()

    results = await fetch_all(refs, cfg(providers, base), counters)

    # YouTube answers without likes and comments: a fresh 0 (spec section 3).
    assert all(
        r
        == FetchResult(
            FetchStatus.OK, VideoStats(7, 0, 0) if ref.platform == "yt" else VideoStats(7)
        )
        for ref, r in results.items()
    )
    assert len(providers.requests_to("tiktok")) == 7
    assert len(providers.requests_to("douyin")) == 6
    assert len(providers.requests_to("youtube")) == 2
    assert counters.retries == {"tiktok": 2, "douyin": 1, "youtube": 1}


async def test_youtube_quota_stops_youtube(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    providers.exceed_youtube_quota()
    refs = [yt(i) for i in range(200)] + [tt(1)]
    providers.videos[tt(1)] = VideoStats(3)

    results = await fetch_all(refs, cfg(providers, base, concurrency=1))

    assert len(providers.requests_to("youtube")) == 1
    assert {results[r] for r in refs[:-1]} == {FetchResult(FetchStatus.STOPPED, error=QUOTA_ERROR)}
    assert results[tt(1)].status is FetchStatus.OK


async def test_bad_tikhub_key_stops_tikhub(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    refs = [tt(i) for i in range(10)] + [dy(i) for i in range(10)]
    results = await fetch_all(refs, cfg(providers, base, tikhub_api_key="wrong", concurrency=1))
    assert len(providers.requests) == 1
    assert set(results.values()) == {
        FetchResult(FetchStatus.STOPPED, error="tikhub key rejected (401)")
    }


async def test_out_of_balance_stops_tikhub(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    providers.fail_next(None, 402, endpoint="douyin")
    refs = [dy(i) for i in range(10)] + [tt(i) for i in range(10)]
    for ref in refs:
        providers.videos[ref] = VideoStats(1)
    results = await fetch_all(refs, cfg(providers, base, concurrency=1))
    # Douyin details were refused; a play count that came before the 402 still counts.
    for ref in refs[:10]:
        result = results[ref]
        assert result.status in (FetchStatus.OK, FetchStatus.STOPPED)
        assert result.error == "tikhub out of balance (402)"
        if result.status is FetchStatus.OK:
            assert result.stats == VideoStats(views=1)
    # Only requests sent before the 402 arrived got through; none after it.
    first_402 = next(i for i, r in enumerate(providers.requests) if r.status == 402)
    assert providers.requests[first_402 + 1 :] == []
    assert sum(r.status is FetchStatus.STOPPED for r in results.values()) >= 10


async def test_disabled_providers_make_no_requests(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    refs = [yt(1), tt(1), dy(1)]
    config = cfg(providers, base, youtube_api_key=None, tikhub_api_key=None)
    results = await fetch_all(refs, config)
    assert results == dict.fromkeys(refs, FetchResult(FetchStatus.DISABLED))
    assert providers.requests == []


async def test_closing_early_cancels_calls_in_flight(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    providers.latency = 0.05
    refs = [tt(i) for i in range(40)]
    async with aiohttp.ClientSession() as session:
        stream = fetch_videos(session, refs, cfg(providers, base, concurrency=4))
        first = await anext(stream)
        await stream.aclose()
    assert first[0] in refs
    lanes = [t for t in asyncio.all_tasks() if t.get_name().startswith("fetch-lane-")]
    assert lanes == []
    # At most the first wave plus the replacements started before the close.
    assert len(providers.requests) < len(refs)


# --- short links -----------------------------------------------------------------

VIDEO_TT = "https://www.tiktok.com/@someone/video/7301234567890123456?is_from_webapp=1"
VIDEO_DY = "https://www.iesdouyin.com/share/video/7123456789012345678/?region=CN"


async def test_resolve_short_links_through_the_fake(fake: tuple[FakeProviders, str]) -> None:
    providers, base = fake
    providers.add_short_link("https://vm.tiktok.com/ZMabc/", VIDEO_TT)
    providers.add_short_link("https://v.douyin.com/iRNBho6/", VIDEO_DY)
    # Two hops: a vt. link to a /t/ link to the video.
    providers.add_short_link("https://vt.tiktok.com/ZS1/", "https://www.tiktok.com/t/ZT2/")
    providers.add_short_link("https://www.tiktok.com/t/ZT2/", VIDEO_TT)
    # A relative Location stays on the host that sent it.
    providers.add_short_link("https://vm.tiktok.com/REL/", "/t/ZT3/")
    providers.add_short_link("https://vm.tiktok.com/t/ZT3/", VIDEO_TT)
    providers.add_short_link("https://vm.tiktok.com/EVIL/", "https://evil.example.com/steal")
    links = [
        "https://vm.tiktok.com/ZMabc/",
        "https://v.douyin.com/iRNBho6/",
        "https://vt.tiktok.com/ZS1/",
        "https://vm.tiktok.com/REL/",
        "https://vm.tiktok.com/EVIL/",
        "https://vm.tiktok.com/NOPE/",
        "https://vm.tiktok.com/ZMabc/",
    ]
    counters = FetchCounters()

    out = await resolve_all(links, cfg(providers, base), counters)

    tiktok_video = VideoRef("tt", "7301234567890123456")
    assert out["https://vm.tiktok.com/ZMabc/"] == ResolveResult(tiktok_video, True)
    assert out["https://v.douyin.com/iRNBho6/"] == ResolveResult(
        VideoRef("dy", "7123456789012345678"), True
    )
    assert out["https://vt.tiktok.com/ZS1/"] == ResolveResult(tiktok_video, True)
    assert out["https://vm.tiktok.com/REL/"] == ResolveResult(tiktok_video, True)
    # Neither is a definitive answer (spec section 3): both are asked again later.
    evil = out["https://vm.tiktok.com/EVIL/"]
    assert evil.ref is None and not evil.resolved
    nope = out["https://vm.tiktok.com/NOPE/"]
    assert nope.ref is None and not nope.resolved
    assert len(out) == 6
    short = providers.requests_to("short")
    # Each link asked once per hop (HEAD); the unknown one HEAD then GET (404 both);
    # the off-platform target is never requested; the video URLs never loaded.
    assert sorted(r.ids[0] for r in short) == sorted(
        [
            "https://vm.tiktok.com/ZMabc/",
            "https://v.douyin.com/iRNBho6/",
            "https://vt.tiktok.com/ZS1/",
            "https://www.tiktok.com/t/ZT2/",
            "https://vm.tiktok.com/REL/",
            "https://vm.tiktok.com/t/ZT3/",
            "https://vm.tiktok.com/EVIL/",
            "https://vm.tiktok.com/NOPE/",
            "https://vm.tiktok.com/NOPE/",
        ]
    )
    assert counters.calls["resolve"] == len(short)


async def test_resolve_falls_back_to_get_when_head_refused(
    fake: tuple[FakeProviders, str],
) -> None:
    providers, base = fake
    providers.head_allowed = False
    providers.add_short_link("https://vm.tiktok.com/ZMabc/", VIDEO_TT)
    out = await resolve_all(["https://vm.tiktok.com/ZMabc/"], cfg(providers, base))
    assert out["https://vm.tiktok.com/ZMabc/"].ref == VideoRef("tt", "7301234567890123456")
    assert [r.method for r in providers.requests_to("short")] == ["HEAD", "GET"]


async def test_resolve_server_errors_leave_link_unresolved(
    fake: tuple[FakeProviders, str],
) -> None:
    providers, base = fake
    providers.fail_next(None, 503, endpoint="short")
    counters = FetchCounters()
    out = await resolve_all(["https://vm.tiktok.com/ZMabc/"], cfg(providers, base), counters)
    assert out["https://vm.tiktok.com/ZMabc/"].resolved is False
    assert counters.failures["resolve"] == 1
    assert len(providers.requests_to("short")) == 4  # one try and three retries
