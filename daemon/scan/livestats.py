"""The scan's third step: resolve the day's new short links and fetch the stats no
completion saved, from the platforms, into the video stats cache.

No transaction stays open while the APIs answer: the videos to fetch are read in pages
from a temporary table, and results are written in batches as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime

import aiohttp

from daemon.fetch import (
    FetchConfig,
    FetchCounters,
    FetchResult,
    FetchStatus,
    fetch_videos,
    resolve_short_links,
)
from daemon.fetch.gate import ProviderGate
from daemon.rules.links import VideoRef
from daemon.scan.report import ScanReport
from daemon.scan.video_cache import save_fetched
from daemon.store.db import Db, Tx

# Refs read from the day's videos per round of fetching, and results per cache write:
# memory stays flat however many videos a day has.
FETCH_CHUNK = 5000
SAVE_BATCH = 500


@dataclass(slots=True)
class LiveFetch:
    """What the scan needs to ask the platforms: one HTTP session for the whole scan."""

    session: aiohttp.ClientSession
    config: FetchConfig
    counters: FetchCounters = field(default_factory=FetchCounters)
    # Provider stops and the TikHub budget beyond this run (None: this run only).
    gate: ProviderGate | None = None


async def resolve_day_links(conn: Tx, db: Db, live: LiveFetch, report: ScanReport) -> None:
    rows = await conn.fetch("unresolved_short_links")
    if not rows:
        return
    links = [r["link"] for r in rows]
    resolved = resolve_short_links(live.session, links, live.config, live.counters)
    async with aclosing(resolved):
        async for link, result in resolved:
            if not result.resolved:
                continue  # a network failure: tried again at the next scan
            # Remembered as resolved, even to no video; a completion only takes the
            # video when it is of its own platform (resolve_day_short_links).
            ref = result.ref
            await db.execute(
                "save_short_link",
                link,
                ref.platform if ref else None,
                ref.video_id if ref else None,
            )
            report.short_links_resolved += 1


async def fetch_missing(
    conn: Tx,
    db: Db,
    live: LiveFetch,
    prefer_live: bool,
    cutoff: datetime,
    report: ScanReport,
    stats_date: date,
) -> None:
    """Fetch what the scan's mode (``report.mode``) lets it ask for, of the platforms
    whose provider has a key (no key, no call: nothing to list)."""
    platforms = [p for p, key in api_keys(live).items() if key]
    if not platforms:
        return
    chunks = chunks_to_fetch(conn, prefer_live, cutoff, report.mode, stats_date, platforms)
    async for chunk in chunks:
        batch: list[tuple[VideoRef, FetchResult]] = []
        results = fetch_videos(live.session, chunk, live.config, live.counters, gate=live.gate)
        async with aclosing(results):
            async for ref, result in results:
                if result.status is FetchStatus.OK and result.stopped is not None:
                    # Half a Douyin video: its counts are kept, the rest is owed.
                    note_not_asked(report, ref, FetchStatus.STOPPED)
                elif result.status is FetchStatus.OK:
                    report.videos_fetched += 1
                elif result.status is FetchStatus.GONE:
                    report.videos_gone += 1
                elif result.status in (FetchStatus.STOPPED, FetchStatus.DISABLED):
                    # Stopped: rescanned once the stop clears; disabled: no key, no call.
                    note_not_asked(report, ref, result.status)
                    continue
                else:
                    report.videos_failed += 1
                    continue  # failed or disabled: nothing to cache, asked again next scan
                batch.append((ref, result))
                if len(batch) >= SAVE_BATCH:
                    await save_fetched(db, batch)
                    batch = []
        if batch:
            await save_fetched(db, batch)


def api_keys(live: LiveFetch) -> dict[str, str | None]:
    """Each platform's provider key (TikHub serves TikTok and Douyin)."""
    return {
        "yt": live.config.youtube_api_key,
        "tt": live.config.tikhub_api_key,
        "dy": live.config.tikhub_api_key,
    }


async def chunks_to_fetch(
    conn: Tx,
    prefer_live: bool,
    cutoff: datetime,
    mode: str,
    stats_date: date,
    platforms: list[str],
) -> AsyncIterator[list[VideoRef]]:
    await conn.execute("create_videos_to_fetch", prefer_live, cutoff, mode, stats_date, platforms)
    await conn.execute("index_videos_to_fetch")
    after = ("", "")
    while rows := await conn.fetch("next_videos_to_fetch", *after, FETCH_CHUNK):
        yield [VideoRef(r["platform"], r["video_id"]) for r in rows]
        after = (rows[-1]["platform"], rows[-1]["video_id"])


def note_not_asked(report: ScanReport, ref: VideoRef, status: FetchStatus) -> None:
    provider = "youtube" if ref.platform == "yt" else "tikhub"
    if status is FetchStatus.STOPPED:
        report.videos_stopped += 1
        if provider not in report.incomplete_providers:
            report.incomplete_providers.append(provider)
