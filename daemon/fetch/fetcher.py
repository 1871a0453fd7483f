"""fetch_videos: live stats for many videos, yielded as they arrive."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from daemon.fetch.context import DOUYIN, TIKHUB, TIKTOK, YOUTUBE, FetchContext
from daemon.fetch.gate import TIKHUB_PROVIDER, YOUTUBE_PROVIDER, ProviderGate
from daemon.fetch.lanes import Lane, run_lanes
from daemon.fetch.models import FetchConfig, FetchCounters, FetchResult, FetchStatus, VideoStats
from daemon.fetch.plan import (
    DOUYIN_STATISTICS,
    TIKHUB_ENDPOINT_NAMES,
    Call,
    plan_douyin,
    plan_tiktok,
)
from daemon.fetch.tikhub import fetch_tikhub_call, probe_tikhub
from daemon.fetch.youtube import YOUTUBE_BATCH_SIZE, fetch_youtube_batch, stopped_result
from daemon.rules.links import VideoRef

Item = tuple[VideoRef, FetchResult]
# A lane's output: the ref, its result, and which half of a Douyin video it is.
_Part = tuple[VideoRef, FetchResult, str]
_DISABLED = FetchResult(FetchStatus.DISABLED)
_ENDPOINT_OF = {"yt": YOUTUBE, "tt": TIKTOK, "dy": DOUYIN}
_WHOLE, _COUNTS, _DETAIL = "whole", "counts", "detail"


@dataclass
class _Plan:
    disabled: list[VideoRef] = field(default_factory=list)
    unknown: list[VideoRef] = field(default_factory=list)
    youtube: deque[list[VideoRef]] = field(default_factory=deque)
    tiktok: list[str] = field(default_factory=list)
    douyin: list[str] = field(default_factory=list)


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
            plan.tiktok.append(ref.video_id)
        else:
            plan.douyin.append(ref.video_id)
    if batch:
        plan.youtube.append(batch)
    return plan


def merge_douyin(counts: FetchResult, detail: FetchResult) -> FetchResult:
    """One Douyin video from its two calls: counts (views, likes, shares) and detail
    (comments, collects). One half is enough for OK (the other's counts are None, and
    the cache keeps their last known values; a half stopped is noted, so the day stays
    incomplete for the provider); gone only when both say so."""
    ok = FetchStatus.OK
    if counts.status is ok or detail.status is ok:
        c = counts.stats if counts.status is ok and counts.stats else VideoStats()
        d = detail.stats if detail.status is ok and detail.stats else VideoStats()
        stats = VideoStats(
            views=c.views, likes=c.likes, comments=d.comments, shares=c.shares, collects=d.collects
        )
        halted = next((h.error for h in (counts, detail) if h.status is FetchStatus.STOPPED), None)
        return FetchResult(ok, stats, counts.error or detail.error, stopped=halted)
    if counts.status is FetchStatus.GONE and detail.status is FetchStatus.GONE:
        return FetchResult(FetchStatus.GONE)
    for status in (FetchStatus.STOPPED, FetchStatus.FAILED):
        for half in (counts, detail):
            if half.status is status:
                return FetchResult(status, error=half.error)
    return FetchResult(FetchStatus.FAILED, error="douyin: no answer")


async def _apply_stored_stops(ctx: FetchContext, plan: _Plan) -> None:
    """Stops stored beyond this run (by any scan, process or replica) hold here too."""
    wanted = [(YOUTUBE_PROVIDER, YOUTUBE, bool(plan.youtube))]
    wanted.append((TIKHUB_PROVIDER, TIKHUB, bool(plan.tiktok or plan.douyin)))
    for provider, breaker, needed in wanted:
        if not needed:
            continue
        stop = await ctx.gate.active_stop(provider)
        probing = stop is not None and stop.probe and provider == TIKHUB_PROVIDER
        if probing and await probe_tikhub(ctx):
            await ctx.gate.clear(provider)
            stop = None
        if stop is not None:
            ctx.breakers[breaker].trip(stop.reason)


def _tikhub_lanes(ctx: FetchContext, plan: _Plan) -> list[Lane[Call, _Part]]:
    config = ctx.config
    calls = plan_tiktok(plan.tiktok, config.tikhub_prices, config.tikhub_batch)
    calls += plan_douyin(plan.douyin, config.tikhub_prices, config.tikhub_batch)
    queues: dict[str, deque[Call]] = {name: deque() for name in TIKHUB_ENDPOINT_NAMES}
    for call in calls:
        queues[call.endpoint].append(call)

    def parts(call: Call, results: dict[str, FetchResult]) -> list[_Part]:
        platform = "tt" if call.endpoint.startswith("tiktok") else "dy"
        half = _WHOLE if platform == "tt" else _COUNTS
        if platform == "dy" and call.endpoint != DOUYIN_STATISTICS:
            half = _DETAIL
        return [(VideoRef(platform, i), results[i], half) for i in call.ids]  # type: ignore[arg-type]

    async def run(call: Call) -> list[_Part]:
        return parts(call, await fetch_tikhub_call(ctx, call))

    def fail(call: Call, error: str) -> list[_Part]:
        return parts(call, dict.fromkeys(call.ids, FetchResult(FetchStatus.FAILED, error=error)))

    def halt(call: Call, reason: str) -> list[_Part]:
        return parts(call, dict.fromkeys(call.ids, FetchResult(FetchStatus.STOPPED, error=reason)))

    breaker = ctx.breakers[TIKHUB]
    return [
        Lane(name, queue, run, fail, config.concurrency, lambda: breaker.reason, halt)
        for name, queue in queues.items()
        if queue
    ]


async def fetch_videos(
    session: aiohttp.ClientSession,
    refs: Iterable[VideoRef],
    config: FetchConfig,
    counters: FetchCounters | None = None,
    *,
    gate: ProviderGate | None = None,
) -> AsyncGenerator[Item, None]:
    """Yield ``(ref, result)`` for every distinct ref, in completion order.

    Each distinct ref is asked for at most once (YouTube 50 ids a call; TikHub by
    the cheapest plan, Douyin in two halves merged per video); all calls share one
    ``config.concurrency`` bound. A provider without a key yields DISABLED without
    any call; a provider stopped (``gate``: stored stops, the budget) yields STOPPED.
    A failing video yields FAILED; nothing but cancellation escapes. Closing the
    generator early cancels the calls in flight. The session's connector should
    allow at least ``config.concurrency`` connections.
    """
    ctx = FetchContext.create(session, config, counters, gate)
    plan = _plan(refs, config)
    for ref in plan.disabled:
        yield ref, _DISABLED
    for ref in plan.unknown:
        yield ref, FetchResult(FetchStatus.FAILED, error=f"unknown platform {ref.platform!r}")
    await _apply_stored_stops(ctx, plan)

    async def run_batch(batch: list[VideoRef]) -> list[_Part]:
        results = await fetch_youtube_batch(ctx, [ref.video_id for ref in batch])
        return [(ref, results[ref.video_id], _WHOLE) for ref in batch]

    def fail_batch(batch: list[VideoRef], error: str) -> list[_Part]:
        return [(ref, FetchResult(FetchStatus.FAILED, error=error), _WHOLE) for ref in batch]

    def halt_batch(batch: list[VideoRef], reason: str) -> list[_Part]:
        return [(ref, stopped_result(reason), _WHOLE) for ref in batch]

    youtube_breaker = ctx.breakers[YOUTUBE]
    lanes: list[Lane[Any, _Part]] = [
        Lane(
            YOUTUBE,
            plan.youtube,
            run_batch,
            fail_batch,
            config.concurrency,
            lambda: youtube_breaker.reason,
            halt_batch,
        ),
        *_tikhub_lanes(ctx, plan),
    ]
    # Douyin halves wait here for their other half: bounded by the refs of one call.
    halves: dict[VideoRef, FetchResult] = {}
    # aclosing: when our consumer stops early, the lanes' calls are cancelled now,
    # not whenever the inner generator happens to be collected.
    async with aclosing(run_lanes(lanes)) as parts:
        async for ref, result, half in parts:
            if half != _WHOLE:
                other = halves.pop(ref, None)
                if other is None:
                    halves[ref] = result
                    continue
                counts, detail = (result, other) if half == _COUNTS else (other, result)
                result = merge_douyin(counts, detail)
            if result.status is FetchStatus.FAILED:
                ctx.counters.failures[_ENDPOINT_OF[ref.platform]] += 1
            yield ref, result
