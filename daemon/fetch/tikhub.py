"""TikHub: one TikTok or Douyin video a call, behind one key shared by both endpoints."""

from __future__ import annotations

import json
import logging

from daemon.fetch.breaker import ProviderStopped
from daemon.fetch.context import DOUYIN, TIKHUB, TIKTOK, FetchContext
from daemon.fetch.models import FetchResult, FetchStatus, VideoStats, usable_count
from daemon.fetch.retry import HttpReply, TransportError, request_with_retries
from daemon.links import VideoRef

log = logging.getLogger(__name__)

# Platform -> (endpoint name, path). The app/v3 endpoints replace the web one
# the original used, which TikHub marks as going away.
TIKHUB_ENDPOINTS: dict[str, tuple[str, str]] = {
    "tt": (TIKTOK, "/api/v1/tiktok/app/v3/fetch_one_video"),
    "dy": (DOUYIN, "/api/v1/douyin/app/v3/fetch_one_video"),
}
# Answers that no other video will fare better with: stop TikHub for the run.
_STOP_STATUSES = {
    401: "tikhub key rejected (401)",
    402: "tikhub out of balance (402)",
}


def _failed(error: str) -> FetchResult:
    return FetchResult(FetchStatus.FAILED, error=error)


def _body_code(doc: dict[str, object]) -> object:
    # Success bodies carry "code"; FastAPI-style errors carry it under "detail".
    if "code" in doc:
        return doc["code"]
    detail = doc.get("detail")
    return detail.get("code") if isinstance(detail, dict) else None


def interpret_tikhub_reply(endpoint: str, reply: HttpReply) -> tuple[FetchResult, str | None]:
    """The result of one fetch_one_video reply, and a reason to stop TikHub, if any."""
    stop = _STOP_STATUSES.get(reply.status)
    if stop is not None:
        return _failed(stop), stop
    if reply.status == 404:
        return FetchResult(FetchStatus.GONE), None
    try:
        doc = json.loads(reply.body)
    except ValueError:
        doc = None
    code = _body_code(doc) if isinstance(doc, dict) else None
    if code in (404, "404"):
        return FetchResult(FetchStatus.GONE), None
    if reply.status != 200:
        return _failed(f"{endpoint}: http {reply.status}"), None
    if not isinstance(doc, dict):
        return _failed(f"{endpoint}: malformed JSON"), None
    if code not in (200, "200", None):
        return _failed(f"{endpoint}: tikhub code {code!r}"), None
    data = doc.get("data")
    if not isinstance(data, dict):
        return _failed(f"{endpoint}: no data in response"), None
    detail = data.get("aweme_detail")
    if detail is None:
        # TikHub answers a deleted or private video with an empty aweme_detail.
        return FetchResult(FetchStatus.GONE), None
    statistics = detail.get("statistics") if isinstance(detail, dict) else None
    if not isinstance(statistics, dict):
        return _failed(f"{endpoint}: no statistics in response"), None
    stats = VideoStats(
        views=usable_count(statistics.get("play_count")),
        likes=usable_count(statistics.get("digg_count")),
        comments=usable_count(statistics.get("comment_count")),
        shares=usable_count(statistics.get("share_count")),
        collects=usable_count(statistics.get("collect_count")),
    )
    return FetchResult(FetchStatus.OK, stats), None


async def fetch_tikhub_video(ctx: FetchContext, ref: VideoRef) -> FetchResult:
    """One TikTok or Douyin video's statistics; never raises except on cancellation."""
    endpoint, path = TIKHUB_ENDPOINTS[ref.platform]
    key = ctx.config.tikhub_api_key or ""
    breaker = ctx.breakers[TIKHUB]
    try:
        reply = await request_with_retries(
            ctx,
            endpoint,
            "GET",
            f"{ctx.config.tikhub_api_url.rstrip('/')}{path}",
            params={"aweme_id": ref.video_id},
            headers={"Authorization": f"Bearer {key}"},
            ids=1,
            breaker=breaker,
            secrets=(key,),
        )
    except ProviderStopped as stopped:
        return _failed(stopped.reason)
    except TransportError as exc:
        return _failed(f"{endpoint}: {exc}")
    result, stop = interpret_tikhub_reply(endpoint, reply)
    if stop is not None and not breaker.tripped:
        log.warning("stopping TikHub fetches for this run: %s", stop)
        breaker.trip(stop)
    return result
