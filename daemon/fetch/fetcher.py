"""fetch_videos: live stats for many videos, yielded as they arrive."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field

import aiohttp

from daemon.fetch.context import DOUYIN, TIKHUB, TIKTOK, YOUTUBE, FetchContext
from daemon.fetch.lanes import Lane, run_lanes
from daemon.fetch.models import FetchConfig, FetchCounters, FetchResult, FetchStatus
from daemon.fetch.tikhub import fetch_tikhub_video
from daemon.fetch.youtube import YOUTUBE_BATCH_SIZE, fetch_youtube_batch
from daemon.links import VideoRef

Item = tuple[VideoRef, FetchResult]
_DISABLED = FetchResult(FetchStatus.DISABLED)
_ENDPOINT_OF = {"yt": YOUTUBE, "tt": TIKTOK, "dy": DOUYIN}


@dataclass
class _Plan:
    disabled: list[VideoRef] = field(default_factory=list)
    unknown: list[VideoRef] = field(default_factory=list)
    youtube: deque[list[VideoRef]] = field(default_factory=deque)
    tiktok: deque[VideoRef] = field(default_factory=deque)
    douyin: deque[VideoRef] = field(default_factory=deque)


def _plan(refs: Iterable[VideoRef], config: FetchConfig) -> _Plan:
    """Distinct refs routed to their provider; YouTube ones in batches of 50."""
    plan = _Plan()
    seen: set[VideoRef] = set()
    batch: list[VideoRef] = []
    for ref in refs:
        if ref in seen:
            continue
        seen.add(ref)
        if ref.platform not in _ENDPOINT_OF:
            # Typing forbids it, but data is data: never ask Douyin about a stray ref.
            plan.unknown.append(ref)
        elif ref.platform == "yt":
            if not config.youtube_enabled:
                plan.disabled.append(ref)
                continue
            batch.append(ref)
            if len(batch) == YOUTUBE_BATCH_SIZE:
                plan.youtube.append(batch)
                batch = []
        elif not config.tikhub_enabled:
            plan.disabled.append(ref)
        elif ref.platform == "tt":
            plan.tiktok.append(ref)
        else:
            plan.douyin.append(ref)
    if batch:
        plan.youtube.append(batch)
    return plan


def _fail_batch(batch: list[VideoRef], error: str) -> list[Item]:
    return [(ref, FetchResult(FetchStatus.FAILED, error=error)) for ref in batch]


def _fail_one(ref: VideoRef, error: str) -> list[Item]:
    return [(ref, FetchResult(FetchStatus.FAILED, error=error))]


async def fetch_videos(
    session: aiohttp.ClientSession,
    refs: Iterable[VideoRef],
    config: FetchConfig,
    counters: FetchCounters | None = None,
) -> AsyncGenerator[Item, None]:
    """Yield ``(ref, result)`` for every distinct ref, in completion order.

    Each distinct ref is asked for at most once (YouTube 50 ids a call); all
    calls share one ``config.concurrency`` bound. A provider without a key
    yields DISABLED without any call. A failing video yields FAILED; nothing
    but cancellation escapes. Closing the generator early cancels the calls
    in flight. The session's connector should allow at least
    ``config.concurrency`` connections, or it becomes the tighter bound.
    """
    ctx = FetchContext.create(session, config, counters)
    plan = _plan(refs, config)
    for ref in plan.disabled:
        yield ref, _DISABLED
    for ref in plan.unknown:
        yield ref, FetchResult(FetchStatus.FAILED, error=f"unknown platform {ref.platform!r}")

    async def run_batch(batch: list[VideoRef]) -> list[Item]:
        results = await fetch_youtube_batch(ctx, [ref.video_id for ref in batch])
        return [(ref, results[ref.video_id]) for ref in batch]

    async def run_one(ref: VideoRef) -> list[Item]:
        return [(ref, await fetch_tikhub_video(ctx, ref))]

    youtube_breaker = ctx.breakers[YOUTUBE]
    tikhub_breaker = ctx.breakers[TIKHUB]
    lanes: list[Lane[list[VideoRef], Item] | Lane[VideoRef, Item]] = [
        Lane(
            YOUTUBE,
            plan.youtube,
            run_batch,
            _fail_batch,
            config.concurrency,
            lambda: youtube_breaker.reason,
        ),
        Lane(
            TIKTOK,
            plan.tiktok,
            run_one,
            _fail_one,
            config.concurrency,
            lambda: tikhub_breaker.reason,
        ),
        Lane(
            DOUYIN,
            plan.douyin,
            run_one,
            _fail_one,
            config.concurrency,
            lambda: tikhub_breaker.reason,
        ),
    ]
    # aclosing: when our consumer stops early, the lanes' calls are cancelled now,
    # not whenever the inner generator happens to be collected.
    async with aclosing(run_lanes(lanes)) as results:
        async for ref, result in results:
            if result.status is FetchStatus.FAILED:
                ctx.counters.failures[_ENDPOINT_OF[ref.platform]] += 1
            yield ref, result
