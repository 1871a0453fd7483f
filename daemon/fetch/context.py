"""The shared state of one fetch or resolve run: one semaphore, limiters, breakers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp

from daemon.fetch.breaker import Breaker
from daemon.fetch.gate import MemoryGate, ProviderGate
from daemon.fetch.models import FetchConfig, FetchCounters
from daemon.fetch.plan import TIKHUB_ENDPOINT_NAMES
from daemon.fetch.ratelimit import RateLimiter

# Endpoint names: the keys of FetchCounters and of the limiters.
YOUTUBE = "youtube"
TIKTOK = "tiktok"
DOUYIN = "douyin"
RESOLVE = "resolve"
# Breaker names: TikTok and Douyin share one TikHub key, hence one breaker.
TIKHUB = "tikhub"


@dataclass(eq=False)
class FetchContext:
    session: aiohttp.ClientSession
    config: FetchConfig
    counters: FetchCounters
    # Every HTTP call of the run, whatever the provider, holds one slot while in flight.
    semaphore: asyncio.Semaphore
    timeout: aiohttp.ClientTimeout
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    breakers: dict[str, Breaker] = field(default_factory=dict)
    # Stops and budget shared beyond this run (the database in production).
    gate: ProviderGate = field(default_factory=MemoryGate)

    @classmethod
    def create(
        cls,
        session: aiohttp.ClientSession,
        config: FetchConfig,
        counters: FetchCounters | None = None,
        gate: ProviderGate | None = None,
    ) -> FetchContext:
        limiters: dict[str, RateLimiter] = {}
        if config.youtube_rate_per_second > 0:
            limiters[YOUTUBE] = RateLimiter(config.youtube_rate_per_second)
        if config.tikhub_rate_per_second > 0:
            # TikHub limits each endpoint on its own, so each gets its own limiter.
            for endpoint in TIKHUB_ENDPOINT_NAMES:
                limiters[endpoint] = RateLimiter(config.tikhub_rate_per_second)
        return cls(
            session=session,
            config=config,
            counters=counters if counters is not None else FetchCounters(),
            semaphore=asyncio.Semaphore(config.concurrency),
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
            limiters=limiters,
            breakers={YOUTUBE: Breaker(YOUTUBE), TIKHUB: Breaker(TIKHUB)},
            gate=gate if gate is not None else MemoryGate(),
        )
