"""The TikHub half of the fake providers, as TikHub documents itself: the endpoint
descriptions of TikHub's OpenAPI document mirrored in TikHub/TikHub-API-Python-SDK-V2
(docs/TikTokAppV3APIApi.md, docs/DouyinAppV3APIApi.md, docs/TikHubUserAPIApi.md), and
spec section 5 for the prices and limits.

- ``GET .../{tiktok|douyin}/app/v3/fetch_one_video?aweme_id=ID`` -> ``data.aweme_detail``;
- ``POST .../{tiktok|douyin}/app/v3/fetch_multi_video_v2`` (JSON array, <= 25 / <= 50
  ids, else 422) -> ``data.aweme_details[]``, deleted ids named in ``data.filter_list``;
- ``GET .../douyin/app/v3/fetch_multi_video_statistics?aweme_ids=A,B`` (<= 50, else
  422) -> ``data.statistics_list[]`` (``aweme_id`` as a JSON integer, as the app does);
- ``GET /api/v1/tikhub/user/get_user_info``: the free account endpoint (the probe).

Douyin details carry ``play_count: 0`` (TikHub: most Douyin endpoints no longer return
play counts); only the statistics endpoint has them. Every request is recorded under
its endpoint name (``daemon.fetch.plan``), so tests can sum a flat price per call.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from daemon.fetch.models import VideoStats
from daemon.fetch.plan import (
    BATCH_SIZE,
    DOUYIN_MULTI,
    DOUYIN_ONE,
    DOUYIN_STATISTICS,
    TIKHUB_ENDPOINT_NAMES,
    TIKTOK_MULTI,
    TIKTOK_ONE,
    TikHubPrices,
)
from daemon.fetch.tikhub import PATHS, PROBE_PATH
from daemon.rules.links import Platform, VideoRef

PROBE = "tikhub_probe"
_Handler = Callable[[web.Request], Awaitable[web.Response]]
_Answer = Callable[..., Awaitable[web.Response]]


def platform_of(endpoint: str) -> Platform:
    return "tt" if endpoint.startswith("tiktok") else "dy"


def _detail(endpoint: str, video_id: str, stats: VideoStats) -> dict[str, Any]:
    named = (
        ("play_count", stats.views),
        ("digg_count", stats.likes),
        ("comment_count", stats.comments),
        ("share_count", stats.shares),
        ("collect_count", stats.collects),
    )
    statistics = {name: value for name, value in named if value is not None}
    if platform_of(endpoint) == "dy":
        statistics["play_count"] = 0  # no data, as TikHub documents
    return {"aweme_id": video_id, "statistics": statistics}


def _ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": 200, "message": "Request successful.", "data": data}


class TikHubFake:
    """Mixed into FakeProviders: the attributes below are that dataclass's fields."""

    videos: dict[VideoRef, VideoStats | None]
    tikhub_key: str
    requests: list[Any]
    _answer: _Answer
    _faulted: Callable[[web.Request, str, tuple[str, ...]], Awaitable[web.Response | None]]

    def add_tikhub_routes(self, app: web.Application) -> None:
        for endpoint in TIKHUB_ENDPOINT_NAMES:
            handler = self._tikhub_handler(endpoint)
            if endpoint in (TIKTOK_MULTI, DOUYIN_MULTI):
                app.router.add_post(PATHS[endpoint], handler)
            else:
                app.router.add_get(PATHS[endpoint], handler, allow_head=False)
        app.router.add_get(PROBE_PATH, self._tikhub_handler(PROBE), allow_head=False)

    def tikhub_spend(self, prices: TikHubPrices) -> Decimal:
        """What TikHub would bill: the flat price of every call answered 200."""
        return sum(
            (
                prices.of(r.endpoint)
                for r in self.requests
                if r.status == 200 and r.endpoint in TIKHUB_ENDPOINT_NAMES
            ),
            Decimal(0),
        )

    def tikhub_calls(self) -> dict[str, int]:
        """Calls per TikHub endpoint, whatever the answer."""
        out: dict[str, int] = {}
        for r in self.requests:
            if r.endpoint in TIKHUB_ENDPOINT_NAMES:
                out[r.endpoint] = out.get(r.endpoint, 0) + 1
        return out

    async def _ids(self, request: web.Request, endpoint: str) -> tuple[str, ...] | None:
        if endpoint in (TIKTOK_ONE, DOUYIN_ONE):
            video_id = request.query.get("aweme_id", "")
            return (video_id,) if video_id else ()
        if endpoint == DOUYIN_STATISTICS:
            return tuple(p for p in request.query.get("aweme_ids", "").split(",") if p)
        if endpoint == PROBE:
            return ()
        try:
            body = json.loads(await request.read())
        except ValueError:
            return None
        if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
            return None
        return tuple(body)

    def _tikhub_handler(self, endpoint: str) -> _Handler:
        platform = platform_of(endpoint)

        async def handler(request: web.Request) -> web.Response:
            ids = await self._ids(request, endpoint)
            faulted = await self._faulted(request, endpoint, ids or ())
            if faulted is not None:
                return faulted
            if request.headers.get("Authorization") != f"Bearer {self.tikhub_key}":
                body = {"detail": {"code": 401, "message": "Invalid API key"}}
                return await self._answer(request, endpoint, ids or (), 401, body)
            if endpoint == PROBE:
                return await self._answer(request, endpoint, (), 200, _ok({"user": {}}))
            limit = BATCH_SIZE.get(endpoint, 1)
            if ids is None or not ids or len(ids) > limit:
                body = {"detail": {"code": 422, "message": f"1 to {limit} aweme ids"}}
                return await self._answer(request, endpoint, ids or (), 422, body)
            found = {i: self.videos.get(VideoRef(platform, i)) for i in ids}
            return await self._answer(request, endpoint, ids, 200, _ok(self._data(endpoint, found)))

        return handler

    @staticmethod
    def _data(endpoint: str, found: Mapping[str, VideoStats | None]) -> dict[str, Any]:
        if endpoint in (TIKTOK_ONE, DOUYIN_ONE):
            ((video_id, stats),) = found.items()
            return {"aweme_detail": _detail(endpoint, video_id, stats) if stats else None}
        if endpoint == DOUYIN_STATISTICS:
            listed = []
            for video_id, stats in found.items():
                if stats is None:
                    continue  # deleted: left out of the list
                entry: dict[str, Any] = {"aweme_id": int(video_id), "download_count": 0}
                for name, value in (
                    ("play_count", stats.views),
                    ("digg_count", stats.likes),
                    ("share_count", stats.shares),
                ):
                    if value is not None:
                        entry[name] = value
                listed.append(entry)
            return {"statistics_list": listed}
        details = [_detail(endpoint, i, s) for i, s in found.items() if s is not None]
        gone = [{"aweme_id": i, "reason": "deleted"} for i, s in found.items() if s is None]
        return {"aweme_details": details, "filter_list": gone}
