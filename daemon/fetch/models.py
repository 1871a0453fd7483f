"""What a fetch asks with and what it answers: plain values, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from daemon.fetch.plan import TikHubPrices
from daemon.rules.links import VideoRef

# Section 3's "usable count" ceiling: counts land in BIGINT columns.
MAX_COUNT = 2**63 - 1
_MAX_COUNT_DIGITS = len(str(MAX_COUNT))


def usable_count(value: object) -> int | None:
    """A count per spec section 3, or None (no data).

    An integral JSON number (``100000``, ``1e5``, ``100000.0``; ``-0`` is 0) or a string
    of ASCII digits, in [0, 2^63-1]. Fractions, negatives, booleans (ints in Python,
    hence the explicit check), other strings (``"1e5"``, ``" 12"``) are None. The same
    rule as ``dailystats_usable(jsonb)`` (migration 0008). A float is read as the
    shortest decimal that prints it (what ``json.dumps`` writes); JSON parsed with
    ``parse_float=Decimal`` is read exactly, as PostgreSQL reads it.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | Decimal):
        exact = Decimal(repr(value)) if isinstance(value, float) else value
        # Bounding first keeps to_integral/int() away from huge exponents (1e400).
        if not exact.is_finite() or not 0 <= exact <= MAX_COUNT:
            return None
        if exact != exact.to_integral_value():
            return None
        number = int(exact)
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        # Bounding the length first keeps int() away from huge strings.
        if len(value.lstrip("0")) > _MAX_COUNT_DIGITS:
            return None
        number = int(value)
    else:
        return None
    return number if 0 <= number <= MAX_COUNT else None


@dataclass(frozen=True, slots=True)
class VideoStats:
    """One video's counts; None means the API did not report it (e.g. hidden YouTube likes)."""

    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    collects: int | None = None


class FetchStatus(StrEnum):
    OK = "ok"
    # Deleted or private: YouTube left the id out of items; TikHub said not found.
    GONE = "gone"
    # Errors, retries exhausted, or the provider was stopped (quota, bad key, no balance).
    FAILED = "failed"
    # The provider has no key configured: nothing was asked.
    DISABLED = "disabled"
    # Not asked (or not answered) because the provider is stopped or over its daily
    # budget: the scan records the provider in the run's incomplete_providers.
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: FetchStatus
    stats: VideoStats | None = None
    error: str | None = None
    # OK with a half missing because the provider was stopped or over budget (a Douyin
    # video's other call): its counts are kept, and the day is incomplete all the same.
    stopped: str | None = None


@dataclass(frozen=True, slots=True)
class ResolveResult:
    """Where a short link leads.

    ``resolved=False``: a network or HTTP failure, try again on the next scan.
    ``resolved=True`` with ``ref=None``: it leads somewhere that is not a video.
    """

    ref: VideoRef | None
    resolved: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Everything the HTTP side needs; base URLs are settings so tests can use local fakes."""

    youtube_api_key: str | None = None
    tikhub_api_key: str | None = None
    youtube_api_url: str = "https://www.googleapis.com/youtube/v3"
    tikhub_api_url: str = "https://api.tikhub.io"
    # One bound on all HTTP calls of a run, whatever the provider.
    concurrency: int = 16
    # Per endpoint (TikTok and Douyin each); 0 = unlimited.
    tikhub_rate_per_second: float = 5.0
    youtube_rate_per_second: float = 0.0
    timeout_seconds: float = 10.0
    max_retries: int = 3
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    retry_after_cap_seconds: float = 60.0
    # TikHub cost (spec section 5): prices per call, and batch endpoints on (off only
    # for the benchmark's comparison with one call per video).
    tikhub_prices: TikHubPrices = field(default_factory=TikHubPrices)
    tikhub_batch: bool = True
    # Tests and the demo only: requests the resolver would send to a platform host
    # (exact, lower case, e.g. "vm.tiktok.com") go to this base URL plus the path
    # and query instead. Hosts are still judged by the logical URL, so the
    # platform-only redirect rule is exercised unchanged against a local fake.
    resolve_via: Mapping[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")
        for name in (
            "tikhub_rate_per_second",
            "youtube_rate_per_second",
            "backoff_base_seconds",
            "backoff_cap_seconds",
            "retry_after_cap_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")

    @property
    def youtube_enabled(self) -> bool:
        return bool(self.youtube_api_key and self.youtube_api_key.strip())

    @property
    def tikhub_enabled(self) -> bool:
        return bool(self.tikhub_api_key and self.tikhub_api_key.strip())


@dataclass
class FetchCounters:
    """What a run did, keyed by endpoint: "youtube", "resolve", and the TikHub endpoint
    names of ``daemon.fetch.plan`` ("tiktok" and "douyin" being the one-video ones).

    ``calls`` counts HTTP requests sent (retries included); ``ids`` the video ids
    those requests carried; ``retries`` the repeated requests; ``failures`` the
    videos (or links, for "resolve") that ended FAILED / unresolved.
    """

    calls: Counter[str] = field(default_factory=Counter)
    ids: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    # TikHub calls answered 200 (the billed ones), per endpoint.
    billed: Counter[str] = field(default_factory=Counter)
