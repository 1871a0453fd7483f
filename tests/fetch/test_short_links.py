"""Short links (spec section 3): resolved with or without API keys, one video while
unresolved, and only definitive answers remembered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime

import aiohttp
import pytest

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import FetchConfig
from daemon.rules.links import VideoRef
from daemon.scan.day import LiveFetch, ScanConfig, ScanReport, scan_day
from daemon.store.db import Db
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks, stored_rows

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
DY_ID = "7400000000000000001"
DY_VIDEO = f"https://www.iesdouyin.com/share/video/{DY_ID}/"
SHORT = "https://v.douyin.com/iRshort/"


# --- the scan ---------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeProviders, str]]:
    providers = FakeProviders()
    providers.add_short_link(SHORT, DY_VIDEO)
    async with providers.start() as base:
        yield providers, base


def _no_keys(providers: FakeProviders, base: str) -> FetchConfig:
    return providers.config(
        base,
        youtube_api_key=None,
        tikhub_api_key=None,
        max_retries=1,
        backoff_base_seconds=0.001,
        backoff_cap_seconds=0.002,
    )


async def _scan(db: Db, config: FetchConfig | None) -> ScanReport:
    if config is None:
        report = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test")
    else:
        async with aiohttp.ClientSession() as session:
            live = LiveFetch(session=session, config=config)
            report = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test", live=live)
    assert report.status == "succeeded", report.error
    return report


async def _remembered(db: Db) -> dict[str, str | None]:
    async with db.connection() as tx:
        rows = await tx.conn.fetch("SELECT link, video_id FROM dailystats_short_links")
    return {r["link"]: r["video_id"] for r in rows}


async def _two_reposts(db: Db) -> None:
    """One Douyin short link submitted twice, written two ways, each with saved views."""
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
        await insert_completions(
            tx.conn,
            [
                Completion(1, 1, 1, "submitted", "douyin", SHORT, AT, {"view_count": 100}),
                Completion(
                    2,
                    1,
                    2,
                    "submitted",
                    "douyin",
                    " HTTPS://V.DOUYIN.COM/iRshort",
                    AT,
                    {"view_count": 150},
                ),
            ],
        )


async def test_a_reposted_short_link_counts_once_with_nothing_to_resolve_it(db: Db) -> None:
    await _two_reposts(db)
    report = await _scan(db, None)
    assert (report.video_count, report.completion_count) == (1, 2)
    async with db.connection() as tx:
        row = (await stored_rows(tx.conn, DAY))[1]
    assert row["dy_view_count"] == 150  # one video, its largest saved count
    assert row["dy_account_count"] == 2


async def test_short_links_are_resolved_without_any_api_key(
    db: Db, fake: tuple[FakeProviders, str]
) -> None:
    providers, base = fake
    await _two_reposts(db)
    async with db.connection() as tx:
        # The full link of the same video: still the one video.
        await insert_completions(
            tx.conn,
            [Completion(3, 1, 3, "submitted", "douyin", DY_VIDEO, AT, {"view_count": 120})],
        )
    report = await _scan(db, _no_keys(providers, base))
    assert report.short_links_resolved == 1
    assert await _remembered(db) == {"https://v.douyin.com/iRshort": DY_ID}
    assert len(providers.requests_to("short")) == 1  # both ways of writing it: one link
    assert report.video_count == 1
    async with db.connection() as tx:
        assert (await stored_rows(tx.conn, DAY))[1]["dy_view_count"] == 150
    assert VideoRef("dy", DY_ID) not in providers.asked()  # saved stats: no fetch


async def test_a_503_from_the_shortener_is_asked_again_at_the_next_scan(
    db: Db, fake: tuple[FakeProviders, str]
) -> None:
    providers, base = fake
    await _two_reposts(db)
    providers.fail_next(None, 503, endpoint="short")
    first = await _scan(db, _no_keys(providers, base))
    assert first.short_links_resolved == 0
    assert await _remembered(db) == {}
    assert first.video_count == 1  # still one video while unresolved

    providers.faults.clear()
    second = await _scan(db, _no_keys(providers, base))
    assert second.short_links_resolved == 1
    assert await _remembered(db) == {"https://v.douyin.com/iRshort": DY_ID}
    asked = len(providers.requests_to("short"))
    third = await _scan(db, _no_keys(providers, base))
    assert third.short_links_resolved == 0
    assert len(providers.requests_to("short")) == asked  # remembered: not asked again


async def test_a_block_page_from_the_shortener_is_not_remembered(
    db: Db, fake: tuple[FakeProviders, str]
) -> None:
    providers, base = fake
    await _two_reposts(db)
    providers.fail_next(1, 200, endpoint="short", body="<html>captcha</html>")
    first = await _scan(db, _no_keys(providers, base))
    assert first.short_links_resolved == 0
    assert await _remembered(db) == {}
    second = await _scan(db, _no_keys(providers, base))
    assert second.short_links_resolved == 1
    assert await _remembered(db) == {"https://v.douyin.com/iRshort": DY_ID}
