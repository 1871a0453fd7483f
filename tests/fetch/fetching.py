"""Run the fetchers to completion, for tests: every result, each answered once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import (
    FetchConfig,
    FetchCounters,
    FetchResult,
    ResolveResult,
    fetch_videos,
    resolve_short_links,
)
from daemon.rules.links import VideoRef


async def fetch_all(
    refs: Iterable[VideoRef], config: FetchConfig, counters: FetchCounters | None = None
) -> dict[VideoRef, FetchResult]:
    results: dict[VideoRef, FetchResult] = {}
    async with aiohttp.ClientSession() as session:
        async for ref, result in fetch_videos(session, refs, config, counters):
            assert ref not in results, "each ref is answered once"
            results[ref] = result
    return results


async def resolve_all(
    links: Iterable[str], config: FetchConfig, counters: FetchCounters | None = None
) -> dict[str, ResolveResult]:
    out: dict[str, ResolveResult] = {}
    async with aiohttp.ClientSession() as session:
        async for link, result in resolve_short_links(session, links, config, counters):
            assert link not in out, "each link is answered once"
            out[link] = result
    return out


def cfg(fake: FakeProviders, base: str, **overrides: Any) -> FetchConfig:
    """A config pointing at ``fake``: no rate limit, near-instant backoff (tests only)."""
    defaults: dict[str, Any] = {
        "tikhub_rate_per_second": 0.0,
        "backoff_base_seconds": 0.001,
        "backoff_cap_seconds": 0.005,
    }
    defaults.update(overrides)
    return fake.config(base, **defaults)
