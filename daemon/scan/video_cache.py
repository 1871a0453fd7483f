"""The cache of fetched video stats (``dailystats_video_stats``): what a fetch leaves there.

The merge itself is SQL (``save_video_stats``): a count a fetch did not report keeps
the one known before, and a video found gone keeps its counts. The rule here says when
a fetch was only partial, so its video is not taken as fresh and is asked again.
"""

from __future__ import annotations

from typing import Any

from daemon.fetch import FetchResult, FetchStatus, VideoStats
from daemon.rules.links import Platform, VideoRef
from daemon.store.db import Db

# The counts each platform reports whenever its answer is whole. YouTube may hide likes
# and comments (a creator's choice, counted as 0); TikTok's statistics carry all three;
# a Douyin video needs both of its calls (spec section 5: play counts, likes and shares
# from the statistics endpoint, comments and collects from a detail endpoint).
REQUIRED: dict[Platform, tuple[str, ...]] = {
    "yt": ("views",),
    "tt": ("views", "likes", "comments"),
    "dy": ("views", "likes", "comments", "shares", "collects"),
}


def is_partial(platform: Platform, result: FetchResult) -> bool:
    """An OK fetch that left a count its platform always reports unreported."""
    if result.status is not FetchStatus.OK:
        return False
    stats = result.stats or VideoStats()
    return any(getattr(stats, name) is None for name in REQUIRED[platform])


async def save_fetched(db: Db, batch: list[tuple[VideoRef, FetchResult]]) -> None:
    """Store OK and GONE results (others are not answers: nothing to keep)."""
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [])
    for ref, result in batch:
        stats = result.stats if result.status is FetchStatus.OK else None
        values = (
            ref.platform,
            ref.video_id,
            "ok" if result.status is FetchStatus.OK else "gone",
            stats.views if stats else None,
            stats.likes if stats else None,
            stats.comments if stats else None,
            stats.shares if stats else None,
            stats.collects if stats else None,
            is_partial(ref.platform, result),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    await db.execute("save_video_stats", *columns)
