"""A real HTTP fake of YouTube, TikHub and the platforms' short-link redirects.

One aiohttp server on a local port serves:

- ``GET {base}/youtube/v3/videos?part=statistics&id=A,B&key=K`` (YouTube Data API v3 shape);
- TikHub's one-video, batch and Douyin statistics endpoints (``daemon.demo.fake_tikhub``);
- ``HEAD|GET {base}/short/{host}/{path}``: the short link ``https://{host}/{path}``,
  answered with a redirect to the target registered by ``add_short_link``.

Short links are real platform hosts (vm.tiktok.com, ...) and the resolver only
follows platform hosts, so it is pointed here by ``FetchConfig.resolve_via``
(host -> ``{base}/short/{host}``); ``config(base)`` fills that in. Used by the
integration tests, the benchmark and the demo.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web
from yarl import URL

from daemon.demo.fake_tikhub import TikHubFake
from daemon.fetch.models import FetchConfig, VideoStats
from daemon.fetch.plan import DOUYIN_MULTI, DOUYIN_ONE, TIKTOK_MULTI, TIKTOK_ONE
from daemon.rules.links import Platform, VideoRef

YOUTUBE_PATH = "/youtube/v3/videos"
# The endpoints that ask for a video's details (Douyin's statistics calls are not
# counted by ``asked``: each Douyin video is asked its details once and its counts once).
_PLATFORM_OF_ENDPOINT: dict[str, Platform] = {
    "youtube": "yt",
    TIKTOK_ONE: "tt",
    TIKTOK_MULTI: "tt",
    DOUYIN_ONE: "dy",
    DOUYIN_MULTI: "dy",
}
# Hosts whose requests the resolver sends here via FetchConfig.resolve_via.
SHORT_LINK_HOSTS = (
    "vm.tiktok.com",
    "vt.tiktok.com",
    "tiktok.com",
    "www.tiktok.com",
    "m.tiktok.com",
    "v.douyin.com",
    "douyin.com",
    "www.douyin.com",
    "iesdouyin.com",
    "www.iesdouyin.com",
)
_QUOTA_BODY = {
    "error": {
        "code": 403,
        "message": "The request cannot be completed because you have exceeded your quota.",
        "errors": [{"domain": "youtube.quota", "reason": "quotaExceeded"}],
    }
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    endpoint: str  # "youtube", a TikHub endpoint name (daemon.fetch.plan), or "short"
    method: str
    path: str
    ids: tuple[str, ...]  # video ids asked (short links: the logical URL)
    at: float  # time.monotonic() on arrival, before any injected latency
    status: int


@dataclass
class Fault:
    """Answer the next ``remaining`` matching requests with ``status`` (None: forever)."""

    status: int
    endpoint: str | None = None  # None matches every endpoint
    remaining: int | None = 1
    retry_after: str | None = None
    body: Any = None


def _short_key(link: str) -> tuple[str, str]:
    url = URL(link if "://" in link else "https://" + link)
    return (url.host or "").lower(), url.path.rstrip("/")


@dataclass
class FakeProviders(TikHubFake):
    """In-memory videos and short links behind a real server; records every request.

    ``videos`` maps a video to its stats, or to None for a deleted one (a video
    not in the map is deleted too). ``latency`` (seconds) delays every answer.
    """

    videos: dict[VideoRef, VideoStats | None] = field(default_factory=dict)
    latency: float = 0.0
    youtube_key: str = "fake-youtube-key"
    tikhub_key: str = "fake-tikhub-key"
    head_allowed: bool = True
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # Requests being answered right now, and the most there ever were at once.
    in_flight: int = 0
    max_in_flight: int = 0
    _short_links: dict[tuple[str, str], str] = field(default_factory=dict)

    # --- setup ---------------------------------------------------------------

    def add_video(self, platform: Platform, video_id: str, stats: VideoStats | None) -> None:
        self.videos[VideoRef(platform, video_id)] = stats

    def add_short_link(self, link: str, location: str) -> None:
        """``link`` (e.g. ``https://vm.tiktok.com/ZMabc/``) redirects to ``location``."""
        self._short_links[_short_key(link)] = location

    def fail_next(
        self,
        count: int | None,
        status: int = 500,
        *,
        endpoint: str | None = None,
        retry_after: str | None = None,
        body: Any = None,
    ) -> None:
        self.faults.append(Fault(status, endpoint, count, retry_after, body))

    def exceed_youtube_quota(self) -> None:
        self.fail_next(None, 403, endpoint="youtube", body=_QUOTA_BODY)

    @staticmethod
    def resolve_via(base_url: str) -> dict[str, str]:
        return {host: f"{base_url}/short/{host}" for host in SHORT_LINK_HOSTS}

    def config(self, base_url: str, **overrides: Any) -> FetchConfig:
        """A FetchConfig pointing every provider and short-link host at this fake."""
        config = FetchConfig(
            youtube_api_url=f"{base_url}/youtube/v3",
            youtube_api_key=self.youtube_key,
            tikhub_api_url=base_url,
            tikhub_api_key=self.tikhub_key,
            resolve_via=self.resolve_via(base_url),
        )
        return replace(config, **overrides)

    # --- what the tests read ---------------------------------------------------

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def asked(self) -> dict[VideoRef, int]:
        """How many times each video was asked for, over all API requests."""
        counts: dict[VideoRef, int] = {}
        for request in self.requests:
            platform = _PLATFORM_OF_ENDPOINT.get(request.endpoint)
            if platform is None:
                continue
            for video_id in request.ids:
                ref = VideoRef(platform, video_id)
                counts[ref] = counts.get(ref, 0) + 1
        return counts

    # --- server --------------------------------------------------------------

    @asynccontextmanager
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve until the block ends; yields the base URL, e.g. ``http://127.0.0.1:41234``."""
        app = web.Application()
        app.router.add_get(YOUTUBE_PATH, self._youtube, allow_head=False)
        self.add_tikhub_routes(app)
        app.router.add_route("HEAD", "/short/{host}/{path:.*}", self._short)
        app.router.add_route("GET", "/short/{host}/{path:.*}", self._short)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            yield f"http://{host}:{bound_port}"
        finally:
            await runner.cleanup()

    def _fault(self, endpoint: str) -> Fault | None:
        for fault in self.faults:
            if fault.endpoint not in (None, endpoint):
                continue
            if fault.remaining is None:
                return fault
            if fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    async def _answer(
        self,
        request: web.Request,
        endpoint: str,
        ids: tuple[str, ...],
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        # The status is settled and recorded on arrival; latency comes after, as
        # it would from a slow upstream.
        self.requests.append(
            RecordedRequest(endpoint, request.method, request.path, ids, time.monotonic(), status)
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(
            status=status, text=text, content_type="application/json", headers=headers
        )

    async def _faulted(
        self, request: web.Request, endpoint: str, ids: tuple[str, ...]
    ) -> web.Response | None:
        fault = self._fault(endpoint)
        if fault is None:
            return None
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        body = fault.body if fault.body is not None else {"error": f"injected {fault.status}"}
        return await self._answer(request, endpoint, ids, fault.status, body, headers)

    async def _youtube(self, request: web.Request) -> web.Response:
        raw = request.query.get("id", "")
        ids = tuple(part for part in raw.split(",") if part)
        faulted = await self._faulted(request, "youtube", ids)
        if faulted is not None:
            return faulted
        body: dict[str, Any]
        if request.query.get("key") != self.youtube_key:
            body = {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "errors": [{"domain": "global", "reason": "badRequest"}],
                    "details": [{"reason": "API_KEY_INVALID"}],
                }
            }
            return await self._answer(request, "youtube", ids, 400, body)
        if request.query.get("part") != "statistics" or not ids or len(ids) > 50:
            body = {"error": {"code": 400, "errors": [{"reason": "badRequest"}]}}
            return await self._answer(request, "youtube", ids, 400, body)
        items = []
        for video_id in ids:
            stats = self.videos.get(VideoRef("yt", video_id))
            if stats is None:
                continue  # deleted or private: left out of items
            statistics = {
                name: str(value)
                for name, value in (
                    ("viewCount", stats.views),
                    ("likeCount", stats.likes),
                    ("commentCount", stats.comments),
                )
                if value is not None
            }
            items.append({"kind": "youtube#video", "id": video_id, "statistics": statistics})
        body = {"kind": "youtube#videoListResponse", "items": items}
        return await self._answer(request, "youtube", ids, 200, body)

    async def _short(self, request: web.Request) -> web.Response:
        host = request.match_info["host"].lower()
        path = "/" + request.match_info["path"]
        logical = f"https://{host}{path}"
        faulted = await self._faulted(request, "short", (logical,))
        if faulted is not None:
            return faulted
        if request.method == "HEAD" and not self.head_allowed:
            return await self._answer(request, "short", (logical,), 405, "")
        location = self._short_links.get((host, path.rstrip("/")))
        if location is None:
            return await self._answer(request, "short", (logical,), 404, "")
        return await self._answer(request, "short", (logical,), 302, "", {"Location": location})
