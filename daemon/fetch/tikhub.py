"""TikHub: TikTok and Douyin statistics, one video or a batch a call, one key for both.

Endpoints, as described in TikHub's OpenAPI document mirrored in
TikHub/TikHub-API-Python-SDK-V2 (docs/TikTokAppV3APIApi.md, docs/DouyinAppV3APIApi.md):

- ``GET .../{tiktok|douyin}/app/v3/fetch_one_video?aweme_id=ID`` -> ``data.aweme_detail``;
- ``POST .../{tiktok|douyin}/app/v3/fetch_multi_video_v2``, body a JSON array of ids
  (25 TikTok / 50 Douyin at most) -> ``data.aweme_details[]``; an id left out (maybe
  named in ``data.filter_list[]`` with a reason) is deleted, private or restricted;
- ``GET /api/v1/douyin/app/v3/fetch_multi_video_statistics?aweme_ids=A,B`` (<= 50) ->
  ``data.statistics_list[]`` of ``{aweme_id, play_count, digg_count, share_count,
  download_count}``: the only Douyin play counts ("most Douyin endpoints no longer
  return play counts"), so a Douyin detail's ``play_count`` is never read.

The SDK documents no response bodies beyond these field names, so ``aweme_id`` is
accepted as a JSON string or integer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence

from daemon.fetch.breaker import ProviderStopped
from daemon.fetch.context import TIKHUB, FetchContext
from daemon.fetch.gate import BUDGET_REASON, TIKHUB_PROVIDER
from daemon.fetch.models import FetchResult, FetchStatus, VideoStats, usable_count
from daemon.fetch.plan import (
    BATCH_SIZE,
    DOUYIN_MULTI,
    DOUYIN_ONE,
    DOUYIN_STATISTICS,
    TIKTOK_MULTI,
    TIKTOK_ONE,
    Call,
)
from daemon.fetch.retry import HttpReply, TransportError, request_with_retries

log = logging.getLogger(__name__)

PATHS = {
    TIKTOK_ONE: "/api/v1/tiktok/app/v3/fetch_one_video",
    TIKTOK_MULTI: "/api/v1/tiktok/app/v3/fetch_multi_video_v2",
    DOUYIN_ONE: "/api/v1/douyin/app/v3/fetch_one_video",
    DOUYIN_MULTI: "/api/v1/douyin/app/v3/fetch_multi_video_v2",
    DOUYIN_STATISTICS: "/api/v1/douyin/app/v3/fetch_multi_video_statistics",
}
# TikHub's own account endpoint (docs/TikHubUserAPIApi.md, get_user_info): not a data
# endpoint, so it is not billed; it answers 200 once the key and balance are good.
PROBE_PATH = "/api/v1/tikhub/user/get_user_info"
# Answers that no other call will fare better with: stop TikHub (stored by the gate).
STOP_STATUSES = {
    401: "tikhub key rejected (401)",
    402: "tikhub out of balance (402)",
}

Results = dict[str, FetchResult]


def _failed(error: str) -> FetchResult:
    return FetchResult(FetchStatus.FAILED, error=error)


def _body_code(doc: dict[str, object]) -> object:
    # Success bodies carry "code"; FastAPI-style errors carry it under "detail".
    if "code" in doc:
        return doc["code"]
    detail = doc.get("detail")
    return detail.get("code") if isinstance(detail, dict) else None


Envelope = tuple[dict[str, object] | FetchResult, str | None]


def _envelope(endpoint: str, reply: HttpReply) -> Envelope:
    """``data`` of a good answer, or the result every id of the call gets, and a stop."""
    stop = STOP_STATUSES.get(reply.status)
    if stop is not None:
        return FetchResult(FetchStatus.STOPPED, error=stop), stop
    if reply.status == 422:
        # We never send an oversized or malformed batch: this is a bug, said loudly.
        log.error("tikhub rejected a %s request as invalid (422)", endpoint)
        return _failed(f"{endpoint}: rejected as invalid (422)"), None
    try:
        doc = json.loads(reply.body)
    except ValueError:
        doc = None
    code = _body_code(doc) if isinstance(doc, dict) else None
    if reply.status == 404 or code in (404, "404"):
        # Only a one-video call can say which video is gone.
        gone = endpoint in (TIKTOK_ONE, DOUYIN_ONE)
        return (FetchResult(FetchStatus.GONE) if gone else _failed(f"{endpoint}: 404")), None
    if reply.status != 200:
        return _failed(f"{endpoint}: http {reply.status}"), None
    if not isinstance(doc, dict):
        return _failed(f"{endpoint}: malformed JSON"), None
    if code not in (200, "200", None):
        return _failed(f"{endpoint}: tikhub code {code!r}"), None
    data = doc.get("data")
    if not isinstance(data, dict):
        return _failed(f"{endpoint}: no data in response"), None
    return data, None


def _detail_stats(endpoint: str, statistics: dict[str, object]) -> VideoStats:
    if endpoint in (DOUYIN_ONE, DOUYIN_MULTI):
        # Douyin details: play_count is 0 or absent (no data), and views, likes and
        # shares come from the statistics endpoint; only comments and collects here.
        return VideoStats(
            comments=usable_count(statistics.get("comment_count")),
            collects=usable_count(statistics.get("collect_count")),
        )
    return VideoStats(
        views=usable_count(statistics.get("play_count")),
        likes=usable_count(statistics.get("digg_count")),
        comments=usable_count(statistics.get("comment_count")),
        shares=usable_count(statistics.get("share_count")),
        collects=usable_count(statistics.get("collect_count")),
    )


def _id_of(entry: dict[str, object]) -> str | None:
    value = entry.get("aweme_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def interpret_one(endpoint: str, reply: HttpReply) -> tuple[FetchResult, str | None]:
    """The result of one fetch_one_video reply, and a reason to stop TikHub, if any."""
    data, stop = _envelope(endpoint, reply)
    if isinstance(data, FetchResult):
        return data, stop
    detail = data.get("aweme_detail")
    if detail is None:
        # TikHub answers a deleted or private video with an empty aweme_detail.
        return FetchResult(FetchStatus.GONE), None
    statistics = detail.get("statistics") if isinstance(detail, dict) else None
    if not isinstance(statistics, dict):
        return _failed(f"{endpoint}: no statistics in response"), None
    return FetchResult(FetchStatus.OK, _detail_stats(endpoint, statistics)), None


def _listed(
    endpoint: str, ids: Sequence[str], data: dict[str, object], key: str
) -> tuple[dict[str, dict[str, object]], FetchResult | None]:
    entries = data.get(key)
    if not isinstance(entries, list):
        return {}, _failed(f"{endpoint}: no {key} in response")
    found: dict[str, dict[str, object]] = {}
    for entry in entries:
        if isinstance(entry, dict) and (video_id := _id_of(entry)) is not None:
            found.setdefault(video_id, entry)
    filtered = data.get("filter_list")
    if isinstance(filtered, list) and filtered:
        log.info("tikhub %s filtered %d id(s): %s", endpoint, len(filtered), filtered[:5])
    return found, None


def _interpret_listed(
    endpoint: str,
    ids: Sequence[str],
    reply: HttpReply,
    key: str,
    read: Callable[[str, dict[str, object]], FetchResult],
) -> tuple[Results, str | None]:
    """Results per id of a reply listing entries under ``data[key]``; an id not listed
    (whether or not ``filter_list`` names it) is GONE."""
    data, stop = _envelope(endpoint, reply)
    if isinstance(data, FetchResult):
        return dict.fromkeys(ids, data), stop
    found, bad = _listed(endpoint, ids, data, key)
    if bad is not None:
        return dict.fromkeys(ids, bad), None
    results: Results = {}
    for video_id in ids:
        entry = found.get(video_id)
        results[video_id] = (
            FetchResult(FetchStatus.GONE) if entry is None else read(video_id, entry)
        )
    return results, None


def interpret_batch(
    endpoint: str, ids: Sequence[str], reply: HttpReply
) -> tuple[Results, str | None]:
    """Results per id of a fetch_multi_video_v2 reply (``data.aweme_details[]``)."""

    def read(video_id: str, entry: dict[str, object]) -> FetchResult:
        statistics = entry.get("statistics")
        if not isinstance(statistics, dict):
            return _failed(f"{endpoint}: no statistics for {video_id}")
        return FetchResult(FetchStatus.OK, _detail_stats(endpoint, statistics))

    return _interpret_listed(endpoint, ids, reply, "aweme_details", read)


def interpret_statistics(ids: Sequence[str], reply: HttpReply) -> tuple[Results, str | None]:
    """Douyin play counts, likes and shares per id (``data.statistics_list[]``).

    Here a play_count of 0 is a real count: this endpoint is the one that has them.
    """

    def read(video_id: str, entry: dict[str, object]) -> FetchResult:
        stats = VideoStats(
            views=usable_count(entry.get("play_count")),
            likes=usable_count(entry.get("digg_count")),
            shares=usable_count(entry.get("share_count")),
        )
        return FetchResult(FetchStatus.OK, stats)

    return _interpret_listed(DOUYIN_STATISTICS, ids, reply, "statistics_list", read)


def _interpret(call: Call, reply: HttpReply) -> tuple[Results, str | None]:
    if call.endpoint in (TIKTOK_ONE, DOUYIN_ONE):
        result, stop = interpret_one(call.endpoint, reply)
        return dict.fromkeys(call.ids, result), stop
    if call.endpoint == DOUYIN_STATISTICS:
        return interpret_statistics(call.ids, reply)
    return interpret_batch(call.endpoint, call.ids, reply)


async def _send(ctx: FetchContext, call: Call) -> HttpReply:
    key = ctx.config.tikhub_api_key or ""
    params: dict[str, str] | None = None
    body: list[str] | None = None
    if call.endpoint in (TIKTOK_ONE, DOUYIN_ONE):
        params = {"aweme_id": call.ids[0]}
    elif call.endpoint == DOUYIN_STATISTICS:
        params = {"aweme_ids": ",".join(call.ids)}
    else:
        body = list(call.ids)  # fetch_multi_video_v2: the body is a JSON array of ids
    return await request_with_retries(
        ctx,
        call.endpoint,
        "GET" if body is None else "POST",
        f"{ctx.config.tikhub_api_url.rstrip('/')}{PATHS[call.endpoint]}",
        params=params,
        json_body=body,
        headers={"Authorization": f"Bearer {key}"},
        ids=len(call.ids),
        breaker=ctx.breakers[TIKHUB],
        secrets=(key,),
    )


async def fetch_tikhub_call(ctx: FetchContext, call: Call) -> Results:
    """One planned call's results per id; never raises except on cancellation.

    Its price is reserved with the gate first (the budget), and spent only when
    TikHub answers 200 (TikHub bills nothing else).
    """
    if call.endpoint in BATCH_SIZE and len(call.ids) > BATCH_SIZE[call.endpoint]:
        raise ValueError(f"at most {BATCH_SIZE[call.endpoint]} ids a {call.endpoint} call")
    breaker = ctx.breakers[TIKHUB]
    price = ctx.config.tikhub_prices.of(call.endpoint)
    if breaker.tripped:
        return dict.fromkeys(call.ids, FetchResult(FetchStatus.STOPPED, error=breaker.reason))
    reservation = await ctx.gate.allow(TIKHUB_PROVIDER, call.endpoint, price)
    if reservation is None:
        if not breaker.tripped:
            log.warning("stopping TikHub fetches: %s", BUDGET_REASON)
        breaker.trip(BUDGET_REASON)
        return dict.fromkeys(call.ids, FetchResult(FetchStatus.STOPPED, error=BUDGET_REASON))
    billed = False
    stop: str | None = None
    try:
        reply = await _send(ctx, call)
        billed = reply.status == 200
        results, stop = _interpret(call, reply)
        # Tripped before anything awaits, so no queued call slips out after a 401/402.
        if stop is not None and not breaker.tripped:
            log.warning("stopping TikHub fetches until the key or balance is fixed: %s", stop)
            breaker.trip(stop)
        else:
            stop = None
    except ProviderStopped as stopped:
        return dict.fromkeys(call.ids, FetchResult(FetchStatus.STOPPED, error=stopped.reason))
    except TransportError as exc:
        return dict.fromkeys(call.ids, _failed(f"{call.endpoint}: {exc}"))
    finally:
        # Shielded: a cancelled call still gives its reservation back.
        await asyncio.shield(ctx.gate.settle(reservation, billed))
    if billed:
        ctx.counters.billed[call.endpoint] += 1
    if stop is not None:
        await ctx.gate.stop(TIKHUB_PROVIDER, stop, None)
    return results


async def probe_tikhub(ctx: FetchContext) -> bool:
    """True when TikHub accepts the key again (its free account endpoint answers 200)."""
    key = ctx.config.tikhub_api_key or ""
    try:
        reply = await request_with_retries(
            ctx,
            "tikhub_probe",
            "GET",
            f"{ctx.config.tikhub_api_url.rstrip('/')}{PROBE_PATH}",
            headers={"Authorization": f"Bearer {key}"},
            secrets=(key,),
        )
    except TransportError:
        return False
    return reply.status == 200
