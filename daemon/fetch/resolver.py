"""Short share links (vm.tiktok.com/X, v.douyin.com/X, ...) to the video they lead to."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing

import aiohttp
from yarl import URL

from daemon.fetch.context import RESOLVE, FetchContext
from daemon.fetch.lanes import Lane, run_lanes
from daemon.fetch.models import FetchConfig, FetchCounters, ResolveResult
from daemon.fetch.retry import HttpReply, TransportError, request_with_retries
from daemon.rules.links import is_short_link, parse_video_link, platform_of_host

MAX_HOPS = 5
Item = tuple[str, ResolveResult]


def _allowed(url: URL) -> bool:
    """Only the platforms' own hosts are followed: a share link is no open proxy."""
    return (
        url.scheme in ("http", "https") and platform_of_host((url.host or "").lower()) is not None
    )


def _physical(url: URL, config: FetchConfig) -> URL:
    """Where a request for ``url`` really goes: itself, or a test override of its host."""
    base = (config.resolve_via or {}).get((url.host or "").lower())
    if base is None:
        return url
    return URL(base.rstrip("/") + url.raw_path_qs, encoded=True)


def _start_url(link: str) -> URL | None:
    text = link.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        return URL(text)
    except ValueError:
        return None


async def _ask(ctx: FetchContext, url: URL) -> HttpReply:
    """HEAD first (no body at all); GET, left unread, when HEAD is refused."""
    target = _physical(url, ctx.config)
    reply = await request_with_retries(ctx, RESOLVE, "HEAD", target, read_body=False)
    if 400 <= reply.status < 500 and reply.status != 429:
        # Some servers refuse or mishandle HEAD (405, 403, 404): ask with GET,
        # whose body request_with_retries releases unread.
        reply = await request_with_retries(ctx, RESOLVE, "GET", target, read_body=False)
    return reply


async def resolve_one(ctx: FetchContext, link: str) -> ResolveResult:
    """Follow ``link``'s redirects, up to MAX_HOPS, until a URL names a video.

    Only a definitive answer is ``resolved`` (remembered for good, spec section 3): a
    redirect to a video, or to a page of the platform that is not a video (it answered
    2xx, 404 or 410). The short link itself answering 2xx (a block or bot-check page),
    4xx or 5xx, a redirect off the platforms, a timeout or a loop: asked again later.
    """
    url = _start_url(link)
    if url is None:
        return ResolveResult(None, True, "not a URL")
    for hop in range(MAX_HOPS + 1):
        ref = parse_video_link(str(url))
        if ref is not None:
            # The URL names its video: no need to load it.
            return ResolveResult(ref, True)
        if not _allowed(url):
            # A link that is no platform's is settled at once; a redirect off the
            # platforms may be a passing detour (a login or consent page).
            return ResolveResult(None, hop == 0, f"leads off the platforms to {url.host}")
        if hop == MAX_HOPS:
            # Cookie and bot-check loops are often passing: let the next scan try again.
            return ResolveResult(None, False, f"more than {MAX_HOPS} redirects")
        try:
            reply = await _ask(ctx, url)
        except TransportError as exc:
            return ResolveResult(None, False, str(exc))
        location = reply.headers.get("Location")
        if 300 <= reply.status < 400 and location:
            try:
                url = url.join(URL(location))
            except ValueError:
                return ResolveResult(None, False, "malformed Location")
            continue
        # Past the first hop we were sent to a platform page that names no video.
        landed = hop > 0 and not is_short_link(str(url))
        if landed and (200 <= reply.status < 300 or reply.status in (404, 410)):
            return ResolveResult(None, True, "does not lead to a video")
        if 200 <= reply.status < 300:
            return ResolveResult(None, False, f"http {reply.status} without a redirect")
        return ResolveResult(None, False, f"http {reply.status}")
    raise AssertionError("unreachable")  # pragma: no cover


async def resolve_short_links(
    session: aiohttp.ClientSession,
    links: Iterable[str],
    config: FetchConfig,
    counters: FetchCounters | None = None,
) -> AsyncGenerator[Item, None]:
    """Yield ``(link, ResolveResult)`` once per distinct link, in completion order.

    Redirects are followed by hand (never automatically), HEAD first, only
    through the platforms' own hosts, under the same concurrency bound,
    timeouts and retries as fetches. Nothing but cancellation escapes.
    """
    ctx = FetchContext.create(session, config, counters)
    seen: set[str] = set()
    jobs: deque[str] = deque()
    for link in links:
        if link not in seen:
            seen.add(link)
            jobs.append(link)

    async def run(link: str) -> list[Item]:
        return [(link, await resolve_one(ctx, link))]

    def fail(link: str, error: str) -> list[Item]:
        return [(link, ResolveResult(None, False, error))]

    lane: Lane[str, Item] = Lane(RESOLVE, jobs, run, fail, config.concurrency)
    async with aclosing(run_lanes([lane])) as results:
        async for link, result in results:
            if not result.resolved:
                ctx.counters.failures[RESOLVE] += 1
            yield link, result
