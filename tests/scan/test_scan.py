"""The scan of one day against a real PostgreSQL, checked against the Python reference."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from daemon.fetch.retry import HttpReply
from daemon.fetch.youtube import interpret_youtube_reply
from daemon.rules.links import VideoRef, detect_platform, short_link_key
from daemon.scan.day import ScanConfig, scan_day
from daemon.scan.video_cache import save_fetched
from daemon.store.db import Db
from tests.run.locks import until_someone_waits_for_a_lock
from tests.scan.scan_reference import (
    COMPLETED,
    MAX_COUNT,
    CachedStats,
    Completion,
    RawJson,
    expected_scan,
    insert_cache,
    insert_completions,
    insert_tasks,
    stored_rows,
    youtube_answer,
)

YT_IDS = ("dQw4w9WgXcQ", "abcdefghijk", "A_b-C_d-E_f")
TT_IDS = ("7312345678901234567", "7000000000000000001")
DY_IDS = ("7300000000000000001", "7400000000000000002")

LINKS: tuple[str | None, ...] = (
    *(f"https://www.youtube.com/watch?v={v}" for v in YT_IDS),
    *(f"youtu.be/{v}?si=share" for v in YT_IDS),
    f"https://m.youtube.com/shorts/{YT_IDS[0]}",
    f"  https://www.youtube.com/watch?feature=x&v={YT_IDS[1]}&t=3  ",
    *(f"https://www.tiktok.com/@someone/video/{v}?lang=en" for v in TT_IDS),
    f"https://m.tiktok.com/v/{TT_IDS[0]}.html",
    *(f"https://www.douyin.com/video/{v}" for v in DY_IDS),
    f"https://www.iesdouyin.com/share/video/{DY_IDS[0]}/?region=CN",
    f"https://www.douyin.com/discover?modal_id={DY_IDS[1]}",
    "https://vm.tiktok.com/ZMresolved/",
    "https://vm.tiktok.com/ZMunknown/",
    "https://v.douyin.com/iRresolved/",
    # The same short links written otherwise: one video while unresolved.
    "HTTPS://VM.TIKTOK.COM/ZMunknown",
    " vm.tiktok.com/ZMunknown/ ",
    "https://V.Douyin.com/iRresolved",
    "https://vm.tiktok.com/ZMnovideo/",
    "https://www.youtube.com/channel/UCxyz",
    "https://www.tiktok.com/@someone",
    "https://www.instagram.com/reel/abc/",
    "not a link at all",
    "",
    None,
)
# As the scan remembers them: by their compared form.
SHORT_LINKS: dict[str, tuple[str | None, str | None]] = {
    short_link_key("https://vm.tiktok.com/ZMresolved/"): ("tt", TT_IDS[1]),
    short_link_key("https://v.douyin.com/iRresolved/"): ("dy", DY_IDS[0]),
    short_link_key("https://vm.tiktok.com/ZMnovideo/"): (None, None),
}
PLATFORMS = (
    "YouTube",
    "youtube",
    " YT ",
    "yt",
    "TikTok",
    "tt",
    "TT",
    "douyin",
    "Douyin",
    "抖音",
    "dy",
    "DY",
    "Other",
    "Instagram",
    "",
    None,
)
ALIASES = {
    "yt": ("YouTube", " youtube ", "YT", None),
    "tt": ("TikTok", "tt", "TT", None),
    "dy": ("douyin", "Douyin", "抖音", "dy", None),
}
ZONES = ("UTC", "Asia/Shanghai", "America/New_York")
# 2024-03-10 is 23 hours long in New York.
DAYS = (date(2024, 12, 9), date(2024, 3, 10))

count_values = st.one_of(
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=-5, max_value=10**6),
    st.integers(min_value=MAX_COUNT - 3, max_value=MAX_COUNT + 3),
    st.integers(min_value=0, max_value=10**6).map(str),
    st.sampled_from(["", " 12", "1e5", "12.0", "-3", "0007", "abc", "٣", str(MAX_COUNT + 1)]),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    # Integral JSON numbers count (json.dumps writes these as 100000.0, 1e+300, ...).
    st.integers(min_value=0, max_value=10**6).map(float),
    st.sampled_from([1e5, -0.0, 9.223372036854775e18, 9.223372036854776e18, 1e300, -1.0]),
    st.booleans(),
    st.none(),
    st.just({"nested": 1}),
    st.just([1, 2]),
)
stats_dicts = st.fixed_dictionaries(
    {},
    optional={
        k: count_values
        for k in (
            "view_count",
            "like_count",
            "comment_count",
            "share_count",
            "collect_count",
            "other",
        )
    },
)
# What the bot usually saves: every count, as numbers or digit strings.
clean_stats = st.fixed_dictionaries(
    {
        k: st.integers(0, 1000) | st.integers(0, 1000).map(str)
        for k in ("view_count", "like_count", "comment_count", "share_count", "collect_count")
    }
)
# JSON texts Python never writes itself, as the bot's other writers might.
raw_numbers = st.sampled_from(
    [
        "100000.0",
        "1e5",
        "1E+2",
        "1.5",
        "1e400",
        "-0",
        "-0.0",
        '"00012"',
        "true",
        '"1e5"',
        "12.50",
        "1e-2",
        "9223372036854775807.0",
        "9223372036854775808",
        '" 12"',
        "0.0e3",
    ]
)
raw_details = st.dictionaries(
    st.sampled_from(["view_count", "like_count", "comment_count", "share_count", "collect_count"]),
    raw_numbers,
).map(lambda d: RawJson("{" + ", ".join(f'"{k}": {v}' for k, v in d.items()) + "}"))
details_values = st.one_of(
    raw_details,
    clean_stats,
    clean_stats,
    stats_dicts,
    stats_dicts,
    st.none(),
    st.just({}),
    st.just({"verified": True}),
    st.just("a bare string"),
    st.just([1, 2, 3]),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(st.sampled_from(ZONES))
    day = draw(st.sampled_from(DAYS))
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zone))
    midnight_utc = midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    offsets = st.one_of(
        st.integers(0, 22 * 3600),  # inside the day (even a 23-hour one)
        st.integers(-3 * 3600, 3 * 3600),  # around its start
        st.integers(21 * 3600, 27 * 3600),  # around its end
    )
    n = draw(st.integers(0, 30))
    completions = []
    for i in range(n):
        # Mostly a few popular videos, so the same video is often submitted twice.
        link = draw(
            st.sampled_from(LINKS[:4]) | st.sampled_from(LINKS[9:14]) | st.sampled_from(LINKS)
        )
        host_platform = detect_platform(None, link)
        # Mostly a platform that agrees with the link, as the bot writes it.
        platform = draw(
            st.sampled_from(ALIASES.get(host_platform, (None,))) | st.sampled_from(PLATFORMS)
        )
        completions.append(
            Completion(
                id=i + 1,
                task_id=draw(st.integers(1, 3)),
                user_id=draw(st.integers(1, 6)),
                status=draw(st.sampled_from((*COMPLETED, *COMPLETED, "rejected", "in_progress"))),
                platform=platform,
                link=link,
                submitted_at=draw(
                    st.one_of(
                        st.none(),
                        offsets.map(lambda s, m=midnight_utc: m + timedelta(seconds=s)),
                    )
                ),
                details=draw(details_values),
                # Verified later the same day or the next, or never.
                verified_at=draw(
                    st.none()
                    | st.integers(0, 48 * 3600).map(
                        lambda s, m=midnight_utc: m + timedelta(seconds=s)
                    )
                ),
            )
        )
    # A last known number fetched around the day, so that under live_first it is
    # sometimes older and sometimes newer than the saved ones.
    old_fetch = st.none() | st.integers(-30 * 86400, 3 * 86400).map(
        lambda s, m=midnight_utc: m + timedelta(seconds=s)
    )
    cache = draw(
        st.lists(
            st.builds(
                CachedStats,
                platform=st.just("yt"),
                video_id=st.sampled_from(YT_IDS),
                status=st.sampled_from(("ok", "ok", "gone")),
                counts=st.tuples(*[st.one_of(st.none(), st.integers(0, 10**5))] * 5),
                fresh=st.booleans(),
                partial=st.booleans(),
                fetched_at=old_fetch,
            )
            | st.builds(
                CachedStats,
                platform=st.just("tt"),
                video_id=st.sampled_from(TT_IDS),
                # A video later gone keeps its last known counts.
                status=st.sampled_from(("ok", "gone")),
                counts=st.tuples(*[st.one_of(st.none(), st.integers(0, 10**5))] * 5),
                fresh=st.booleans(),
                partial=st.booleans(),
                fetched_at=old_fetch,
            )
            | st.builds(
                CachedStats,
                platform=st.just("dy"),
                video_id=st.sampled_from(DY_IDS),
                status=st.just("ok"),
                counts=st.tuples(*[st.integers(0, MAX_COUNT)] * 5),
                fresh=st.booleans(),
                fetched_at=old_fetch,
            ),
            max_size=6,
            unique_by=lambda c: (c.platform, c.video_id),
        )
    )
    # YouTube answers saved over that cache, some without likes or comments (hidden).
    answers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(YT_IDS),
                st.fixed_dictionaries(
                    {},
                    optional={
                        k: st.integers(0, 10**5).map(str) | st.just("junk")
                        for k in ("viewCount", "likeCount", "commentCount")
                    },
                ),
            ),
            max_size=3,
            unique_by=lambda a: a[0],
        )
    )
    return {
        "zone": zone,
        "day": day,
        "completions": completions,
        "cache": cache,
        "answers": answers,
        "prefer_live": draw(st.booleans()),
    }


def _config(zone: str, prefer_live: bool = False) -> ScanConfig:
    return ScanConfig.defaults(zone, prefer_live=prefer_live)


async def _reset(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "TRUNCATE user_tasks, users, drama_tasks, task_daily_stats, dailystats_video_stats,"
        " dailystats_short_links, dailystats_scan_runs RESTART IDENTITY CASCADE"
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_scan_matches_the_reference(db: Db, scenario: dict[str, Any]) -> None:
    async with db.connection() as tx:
        conn = tx.conn
        await _reset(conn)
        await insert_tasks(conn, [1, 2, 3, 4])
        await insert_completions(conn, scenario["completions"])
        await insert_cache(conn, scenario["cache"])
        await conn.executemany(
            "INSERT INTO dailystats_short_links (link, platform, video_id) VALUES ($1, $2, $3)",
            [(link, p, v) for link, (p, v) in SHORT_LINKS.items()],
        )
    # The answers go through the YouTube reader and the cache's per-count merge.
    ids = [video_id for video_id, _ in scenario["answers"]]
    body = {"items": [{"id": v, "statistics": stats} for v, stats in scenario["answers"]]}
    results, _ = interpret_youtube_reply(
        ids, HttpReply(200, CIMultiDict(), json.dumps(body).encode())
    )
    await save_fetched(db, [(VideoRef("yt", v), results[v]) for v in ids])
    cache = list(scenario["cache"])
    for video_id, statistics in scenario["answers"]:
        youtube_answer(cache, video_id, statistics)

    config = _config(scenario["zone"], scenario["prefer_live"])
    report = await scan_day(db, scenario["day"], config, trigger="test")
    assert report.status == "succeeded", report.error

    expected, sources = expected_scan(
        scenario["completions"],
        scenario["day"],
        ZoneInfo(scenario["zone"]),
        SHORT_LINKS,
        cache,
        scenario["prefer_live"],
    )
    async with db.connection() as tx:
        stored = await stored_rows(tx.conn, scenario["day"])
    assert stored == expected
    assert report.task_count == len(expected)
    assert report.completion_count == sum(r["total_completion_count"] for r in expected.values())
    assert report.video_count == sum(sources.values())
    assert report.videos_missing == sources.get("missing", 0)
    assert report.videos_stale == sources.get("known", 0)

    # A second scan of the same day changes nothing and duplicates nothing.
    again = await scan_day(db, scenario["day"], config, trigger="test")
    assert again.rows_changed == 0
    async with db.connection() as tx:
        assert await stored_rows(tx.conn, scenario["day"]) == expected


async def test_duplicate_video_counts_once_with_its_largest_saved_numbers(db: Db) -> None:
    day = date(2024, 12, 9)
    at = datetime(2024, 12, 9, 12, 0)
    link = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    completions = [
        Completion(
            1, 1, 10, "submitted", "YouTube", link, at, {"view_count": 100, "like_count": "7"}
        ),
        Completion(2, 1, 11, "approved", "yt", "youtu.be/dQw4w9WgXcQ", at, {"view_count": "150"}),
        Completion(3, 1, 11, "verified", "TikTok", "https://vm.tiktok.com/ZMx/", at, None),
        Completion(4, 1, 12, "rejected", "YouTube", link, at, {"view_count": 10**6}),
        Completion(5, 1, 13, "completed", "Instagram", "https://instagram.com/p/1", at, None),
    ]
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1], status="expired")
        await insert_completions(tx.conn, completions)
    report = await scan_day(db, day, _config("UTC"), trigger="test")
    assert report.status == "succeeded"
    async with db.connection() as tx:
        row = (await stored_rows(tx.conn, day))[1]
    assert row["total_completion_count"] == 4
    assert row["total_account_count"] == 3
    assert row["yt_account_count"] == 2
    assert row["tt_account_count"] == 1
    assert row["yt_view_count"] == 150  # one video, the larger of 100 and 150
    assert row["yt_like_count"] == 7
    # The unresolved TikTok short link is a video without stats.
    assert report.videos_missing == 1
    assert report.video_count == 2


async def test_text_details_column_with_junk_never_fails_a_scan(db: Db) -> None:
    """Older deployments keep verification_details as TEXT: invalid JSON is no data."""
    day = date(2024, 12, 9)
    async with db.connection() as tx:
        conn = tx.conn
        await conn.execute(
            "ALTER TABLE user_tasks ALTER COLUMN verification_details TYPE TEXT"
            " USING verification_details::text"
        )
        await insert_tasks(conn, [1])
        await conn.execute("INSERT INTO users (user_id) VALUES (1), (2), (3), (4)")
        rows = [
            (1, "https://www.douyin.com/video/1", '{"view_count": 5, "share_count": "6"}'),
            (2, "https://www.douyin.com/video/2", "{not json"),
            (3, "https://www.douyin.com/video/3", '{"view_count": 99999999999999999999}'),
            (4, "https://www.douyin.com/video/4", '"just a string"'),
        ]
        await conn.executemany(
            "INSERT INTO user_tasks (user_id, task_id, status, platform, submission_link,"
            " submitted_at, verification_details)"
            " VALUES ($1, 1, 'submitted', 'douyin', $2, '2024-12-09 08:00', $3)",
            rows,
        )
    report = await scan_day(db, day, _config("UTC"), trigger="test")
    assert report.status == "succeeded", report.error
    async with db.connection() as tx:
        row = (await stored_rows(tx.conn, day))[1]
    assert (row["dy_account_count"], row["dy_view_count"], row["dy_share_count"]) == (4, 5, 6)
    assert report.videos_missing == 3


async def test_sums_saturate_at_the_bigint_ceiling(db: Db) -> None:
    day = date(2024, 12, 9)
    at = datetime(2024, 12, 9, 1, 0)
    completions = [
        Completion(
            i,
            1,
            i,
            "submitted",
            "tt",
            f"https://www.tiktok.com/@u/video/{i}",
            at,
            {"view_count": MAX_COUNT},
        )
        for i in (1, 2, 3)
    ]
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
        await insert_completions(tx.conn, completions)
    report = await scan_day(db, day, _config("UTC"), trigger="test")
    assert report.status == "succeeded"
    async with db.connection() as tx:
        assert (await stored_rows(tx.conn, day))[1]["tt_view_count"] == MAX_COUNT


async def test_a_task_that_lost_its_completions_is_zeroed_not_deleted(db: Db) -> None:
    day = date(2024, 12, 9)
    at = datetime(2024, 12, 9, 1, 0)
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2])
        await insert_completions(
            tx.conn,
            [
                Completion(1, 1, 1, "submitted", "yt", None, at, None),
                Completion(2, 2, 1, "submitted", "yt", None, at, None),
            ],
        )
    await scan_day(db, day, _config("UTC"), trigger="test")
    async with db.connection() as tx:
        await tx.conn.execute("UPDATE user_tasks SET status = 'rejected' WHERE id = 2")
    report = await scan_day(db, day, _config("UTC"), trigger="test")
    assert report.rows_changed == 1
    async with db.connection() as tx:
        rows = await stored_rows(tx.conn, day)
    assert rows[2]["total_completion_count"] == 0 and rows[2]["yt_account_count"] == 0
    assert rows[1]["total_completion_count"] == 1


async def test_each_run_is_recorded(db: Db) -> None:
    day = date(2024, 12, 9)
    report = await scan_day(db, day, _config("UTC"), trigger="cli")
    async with db.connection() as tx:
        run = await tx.conn.fetchrow(
            "SELECT * FROM dailystats_scan_runs WHERE id = $1", report.run_id
        )
    assert run is not None
    assert (run["status"], run["trigger"], run["task_count"]) == ("succeeded", "cli", 0)
    assert run["finished_at"] is not None


async def test_a_scan_waits_while_another_holds_the_same_day(db: Db, db_url: str) -> None:
    import asyncio

    from daemon.store.queries import QUERIES

    day = date(2024, 12, 9)
    holder = await asyncpg.connect(db_url)
    try:
        await holder.execute(QUERIES["lock_day"], day)
        scan = asyncio.create_task(scan_day(db, day, _config("UTC"), trigger="second"))
        await until_someone_waits_for_a_lock(holder)
        assert not scan.done()
        await holder.execute(QUERIES["unlock_day"], day)
        report = await asyncio.wait_for(scan, timeout=10)
        assert report.status == "succeeded"
    finally:
        await holder.close()


async def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(db: Db) -> None:
    day = date(2024, 12, 9)
    async with db.connection() as tx:
        dead = await tx.conn.fetchval(
            "INSERT INTO dailystats_scan_runs (stats_date, trigger) VALUES ($1, 'cron')"
            " RETURNING id",
            day,
        )
    report = await scan_day(db, day, _config("UTC"), trigger="sighup")
    async with db.connection() as tx:
        statuses = dict(await tx.conn.fetch("SELECT id, status FROM dailystats_scan_runs"))
    assert statuses == {dead: "interrupted", report.run_id: "succeeded"}


async def test_a_count_no_fetch_reported_comes_from_the_saved_details(db: Db) -> None:
    """Douyin's play-count call failed (views unknown), its detail call answered."""
    day = date(2024, 12, 9)
    at = datetime(2024, 12, 9, 1, 0)
    saved = {"view_count": 5000, "comment_count": 1}
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
        await insert_completions(
            tx.conn,
            [
                Completion(
                    1,
                    1,
                    1,
                    "submitted",
                    "dy",
                    f"https://www.douyin.com/video/{DY_IDS[0]}",
                    at,
                    saved,
                )
            ],
        )
        await insert_cache(
            tx.conn,
            [CachedStats("dy", DY_IDS[0], "ok", (None, 7, 50, None, 70), fresh=True, partial=True)],
        )
    # live_first: the API's counts where it had them, the saved views where it had none.
    report = await scan_day(db, day, _config("UTC", prefer_live=True), trigger="test")
    assert report.videos_stale == 1
    async with db.connection() as tx:
        row = (await stored_rows(tx.conn, day))[1]
    assert (row["dy_view_count"], row["dy_like_count"], row["dy_comment_count"]) == (5000, 7, 50)
    assert (row["dy_share_count"], row["dy_collect_count"]) == (0, 70)
    # saved_first: the saved details win whole.
    report = await scan_day(db, day, _config("UTC"), trigger="test")
    assert report.videos_stale == 0
    async with db.connection() as tx:
        row = (await stored_rows(tx.conn, day))[1]
    assert (row["dy_view_count"], row["dy_comment_count"], row["dy_collect_count"]) == (5000, 1, 0)
