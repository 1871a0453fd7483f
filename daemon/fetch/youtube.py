"""YouTube Data API v3: statistics of up to 50 videos a call."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from daemon.fetch.breaker import ProviderStopped
from daemon.fetch.context import YOUTUBE, FetchContext
from daemon.fetch.gate import YOUTUBE_PROVIDER, next_midnight
from daemon.fetch.models import FetchResult, FetchStatus, VideoStats, usable_count
from daemon.fetch.retry import HttpReply, TransportError, request_with_retries

log = logging.getLogger(__name__)

# The API's own limit on ids per videos.list call (one quota unit a call).
YOUTUBE_BATCH_SIZE = 50
QUOTA_ERROR = "youtube quota exceeded"
# YouTube Data API quotas reset at midnight Pacific Time.
PACIFIC = ZoneInfo("America/Los_Angeles")
# Reasons after which every further call would fail the same way until the
# quota resets or an operator fixes the key: stop calling for this run.
_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
_KEY_REASONS = frozenset(
    {"keyInvalid", "keyExpired", "API_KEY_INVALID", "accessNotConfigured", "SERVICE_DISABLED"}
)


def _error_reasons(body: bytes) -> set[str]:
    """Reasons in a Google API error body: error.errors[].reason and error.details[].reason."""
    try:
        doc = json.loads(body)
    except ValueError:
        return set()
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return set()
    reasons: set[str] = set()
    for key in ("errors", "details"):
        entries = error.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                    reasons.add(entry["reason"])
    return reasons


def _stats(statistics: dict[str, object]) -> VideoStats:
    # Counts are JSON strings of digits. Likes and comments hidden or disabled by the
    # creator are simply absent: a fresh 0 that replaces an older value (spec section 3).
    # A missing viewCount, or a count that is there but unreadable, stays unknown.
    def hideable(name: str) -> int | None:
        return usable_count(statistics[name]) if name in statistics else 0

    return VideoStats(
        views=usable_count(statistics.get("viewCount")),
        likes=hideable("likeCount"),
        comments=hideable("commentCount"),
    )


def interpret_youtube_reply(
    ids: Sequence[str], reply: HttpReply
) -> tuple[dict[str, FetchResult], str | None]:
    """Results per id for one videos.list reply, and a reason to stop YouTube, if any."""

    def every(result: FetchResult) -> dict[str, FetchResult]:
        return dict.fromkeys(ids, result)

    if reply.status != 200:
        reasons = _error_reasons(reply.body)
        if reply.status == 403 and reasons & _QUOTA_REASONS:
            return every(FetchResult(FetchStatus.STOPPED, error=QUOTA_ERROR)), QUOTA_ERROR
        if reply.status in (400, 401, 403) and reasons & _KEY_REASONS:
            stop = f"youtube key rejected ({', '.join(sorted(reasons & _KEY_REASONS))})"
            return every(FetchResult(FetchStatus.FAILED, error=stop)), stop
        detail = f"youtube http {reply.status}"
        if reasons:
            detail += f" ({', '.join(sorted(reasons))})"
        return every(FetchResult(FetchStatus.FAILED, error=detail)), None
    try:
        doc = json.loads(reply.body)
    except ValueError:
        return every(FetchResult(FetchStatus.FAILED, error="youtube: malformed JSON")), None
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return every(FetchResult(FetchStatus.FAILED, error="youtube: no items list")), None
    found: dict[str, object] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            found.setdefault(item["id"], item.get("statistics"))
    results: dict[str, FetchResult] = {}
    for video_id in ids:
        if video_id not in found:
            # The API leaves deleted and private videos out of items.
            results[video_id] = FetchResult(FetchStatus.GONE)
            continue
        statistics = found[video_id]
        if isinstance(statistics, dict):
            results[video_id] = FetchResult(FetchStatus.OK, _stats(statistics))
        else:
            # part=statistics always sends the object; without it we know nothing.
            results[video_id] = FetchResult(FetchStatus.FAILED, error="youtube: no statistics")
    return results, None


async def fetch_youtube_batch(ctx: FetchContext, ids: Sequence[str]) -> dict[str, FetchResult]:
    """Statistics of up to 50 videos in one call; never raises except on cancellation."""
    if len(ids) > YOUTUBE_BATCH_SIZE:
        raise ValueError(f"at most {YOUTUBE_BATCH_SIZE} ids a call")
    key = ctx.config.youtube_api_key or ""
    breaker = ctx.breakers[YOUTUBE]
    try:
        reply = await request_with_retries(
            ctx,
            YOUTUBE,
            "GET",
            f"{ctx.config.youtube_api_url.rstrip('/')}/videos",
            params={"part": "statistics", "id": ",".join(ids), "key": key},
            ids=len(ids),
            breaker=breaker,
            secrets=(key,),
        )
    except ProviderStopped as stopped:
        return dict.fromkeys(ids, stopped_result(stopped.reason))
    except TransportError as exc:
        return dict.fromkeys(ids, FetchResult(FetchStatus.FAILED, error=f"youtube: {exc}"))
    results, stop = interpret_youtube_reply(ids, reply)
    if stop is not None and not breaker.tripped:
        log.warning("stopping YouTube fetches for this run: %s", stop)
        breaker.trip(stop)
        if stop == QUOTA_ERROR:
            # The quota resets at midnight Pacific time: stored, so no later scan,
            # restart or replica asks again before then.
            await ctx.gate.stop(YOUTUBE_PROVIDER, stop, next_midnight(PACIFIC))
    return results


def stopped_result(reason: str) -> FetchResult:
    """A video not asked because YouTube stopped: STOPPED for a quota (stored, rescanned
    when it resets), FAILED for a rejected key (asked again at the next scan)."""
    status = FetchStatus.STOPPED if reason == QUOTA_ERROR else FetchStatus.FAILED
    return FetchResult(status, error=reason)
