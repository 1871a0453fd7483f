"""Video stats from the providers (spec section 5): YouTube and TikHub fetches, the
cheapest fetch plan, short-link resolution, and the provider stops and TikHub spend
that every fetch honours (``stops``, stored in the database, and ``report``, what
``status`` and ``stops`` print of them).

The HTTP modules take refs or links and return what came back; only ``stops`` and
``report`` touch the database. Imports: settings, rules, store.
"""

from daemon.fetch.breaker import Breaker, ProviderStopped
from daemon.fetch.fetcher import fetch_videos
from daemon.fetch.models import (
    FetchConfig,
    FetchCounters,
    FetchResult,
    FetchStatus,
    ResolveResult,
    VideoStats,
    usable_count,
)
from daemon.fetch.ratelimit import RateLimiter
from daemon.fetch.resolver import MAX_HOPS, resolve_short_links
from daemon.fetch.retry import (
    HttpReply,
    TransportError,
    backoff_delay,
    request_with_retries,
)
from daemon.fetch.youtube import QUOTA_ERROR, YOUTUBE_BATCH_SIZE

__all__ = [
    "MAX_HOPS",
    "QUOTA_ERROR",
    "YOUTUBE_BATCH_SIZE",
    "Breaker",
    "FetchConfig",
    "FetchCounters",
    "FetchResult",
    "FetchStatus",
    "HttpReply",
    "ProviderStopped",
    "RateLimiter",
    "ResolveResult",
    "TransportError",
    "VideoStats",
    "backoff_delay",
    "fetch_videos",
    "request_with_retries",
    "resolve_short_links",
    "usable_count",
]
