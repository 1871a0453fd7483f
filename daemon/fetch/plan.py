"""The cheapest TikHub fetch plan: which calls to make for n videos (pure, no I/O).

Spec section 5: the plan is the cheapest in estimated spend, and among equal spends
the one with the fewest calls. Prices are settings with TikHub's published defaults
(per call; a batch costs its flat price however few ids it carries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

# Endpoint names: the keys of FetchCounters, of the rate limiters and of the spend
# ledger. "tiktok" and "douyin" are the single-video detail endpoints.
TIKTOK_ONE = "tiktok"
TIKTOK_MULTI = "tiktok_multi"
DOUYIN_ONE = "douyin"
DOUYIN_MULTI = "douyin_multi"
DOUYIN_STATISTICS = "douyin_statistics"
TIKHUB_ENDPOINT_NAMES = (TIKTOK_ONE, TIKTOK_MULTI, DOUYIN_ONE, DOUYIN_MULTI, DOUYIN_STATISTICS)

# Ids a call, per TikHub's endpoint descriptions (TikHub/TikHub-API-Python-SDK-V2,
# docs/TikTokAppV3APIApi.md fetch_multi_video_v2: up to 25 ids;
# docs/DouyinAppV3APIApi.md fetch_multi_video_v2 and fetch_multi_video_statistics:
# up to 50). A bigger batch is answered 422 and never sent.
BATCH_SIZE = {TIKTOK_MULTI: 25, DOUYIN_MULTI: 50, DOUYIN_STATISTICS: 50}


@dataclass(frozen=True, slots=True)
class TikHubPrices:
    """USD per call answered 200 (spec section 5's published prices are the defaults)."""

    tiktok_single: Decimal = Decimal("0.001")
    tiktok_batch: Decimal = Decimal("0.025")
    douyin_single: Decimal = Decimal("0.001")
    douyin_batch: Decimal = Decimal("0.05")
    douyin_statistics: Decimal = Decimal("0.025")

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} price must not be negative")

    def of(self, endpoint: str) -> Decimal:
        return {
            TIKTOK_ONE: self.tiktok_single,
            TIKTOK_MULTI: self.tiktok_batch,
            DOUYIN_ONE: self.douyin_single,
            DOUYIN_MULTI: self.douyin_batch,
            DOUYIN_STATISTICS: self.douyin_statistics,
        }[endpoint]


@dataclass(frozen=True, slots=True)
class Call:
    """One planned TikHub request and the video ids it carries."""

    endpoint: str
    ids: tuple[str, ...]


def split_count(n: int, single: Decimal, batch: Decimal, size: int) -> tuple[int, int]:
    """(batch calls, single calls) covering n videos at the least spend, then fewest calls.

    Cost is linear, so each block of ``size`` is decided on its own: a batch when it
    is no dearer than ``size`` singles (a tie goes to the one call), and the
    remainder r takes singles only when r singles are strictly cheaper than a batch.
    """
    if n <= 0:
        return 0, 0
    full, rest = divmod(n, size)
    if batch > single * size:
        return 0, n
    batches, singles = full, 0
    if rest:
        if single * rest < batch:
            singles = rest
        else:
            batches += 1
    return batches, singles


def _chunks(ids: Sequence[str], size: int) -> list[tuple[str, ...]]:
    return [tuple(ids[i : i + size]) for i in range(0, len(ids), size)]


def _detail_calls(
    ids: Sequence[str], one: str, multi: str, single: Decimal, batch: Decimal, batching: bool
) -> list[Call]:
    if not batching:
        return [Call(one, (i,)) for i in ids]
    size = BATCH_SIZE[multi]
    batches, singles = split_count(len(ids), single, batch, size)
    in_batches = len(ids) - singles
    calls = [Call(multi, chunk) for chunk in _chunks(ids[:in_batches], size)]
    assert len(calls) == batches
    calls += [Call(one, (i,)) for i in ids[in_batches:]]
    return calls


def plan_tiktok(ids: Sequence[str], prices: TikHubPrices, batching: bool = True) -> list[Call]:
    return _detail_calls(
        ids, TIKTOK_ONE, TIKTOK_MULTI, prices.tiktok_single, prices.tiktok_batch, batching
    )


def plan_douyin(ids: Sequence[str], prices: TikHubPrices, batching: bool = True) -> list[Call]:
    """Play counts (there is no single-video statistics call: flat-priced batches of
    <= 50) plus details for comments and collects."""
    calls = [Call(DOUYIN_STATISTICS, c) for c in _chunks(ids, BATCH_SIZE[DOUYIN_STATISTICS])]
    return calls + _detail_calls(
        ids, DOUYIN_ONE, DOUYIN_MULTI, prices.douyin_single, prices.douyin_batch, batching
    )


def plan_spend(calls: Sequence[Call], prices: TikHubPrices) -> Decimal:
    """Estimated USD of a plan, every call answered 200."""
    return sum((prices.of(c.endpoint) for c in calls), Decimal(0))


def cheapest_spend(n: int, single: Decimal, batch: Decimal, size: int) -> Decimal:
    """The least spend that covers n videos, by brute force over the batch count.

    For tests: an independent check of ``split_count``.
    """
    best: Decimal | None = None
    for batches in range(0, n // size + 2):
        singles = max(0, n - batches * size)
        cost = batch * batches + single * singles
        best = cost if best is None or cost < best else best
    return best if best is not None else Decimal(0)


def spend_by_endpoint(billed: Counter[str], prices: TikHubPrices) -> dict[str, dict[str, object]]:
    """{endpoint: {"calls", "usd"}} of calls answered 200 (TikHub bills only those)."""
    return {
        endpoint: {"calls": calls, "usd": float(prices.of(endpoint) * calls)}
        for endpoint, calls in sorted(billed.items())
        if calls
    }
