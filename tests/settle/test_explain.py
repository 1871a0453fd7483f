"""``dailystats explain``: each video of a task's day, its completions and its source."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, datetime

import asyncpg

from daemon.scan.day import ScanConfig, scan_day
from daemon.settle.explain import explain_day
from daemon.settle.explain_text import render
from daemon.store.db import Db
from tests.scan.scan_reference import (
    CachedStats,
    Completion,
    insert_cache,
    insert_completions,
    insert_tasks,
)
from tests.test_cli import run_cli

DAY = date(2024, 12, 9)
AT = datetime(2024, 12, 9, 9, 30)
YT = "dQw4w9WgXcQ"
TT = "7300000000000000001"
DY_STALE = "7400000000000000001"
DY_FRESH = "7400000000000000002"
SHORT = "https://vm.tiktok.com/ZMunresolved/"

COMPLETIONS = [
    Completion(1, 1, 11, "submitted", "YouTube", f"https://youtu.be/{YT}", AT, {"view_count": 7}),
    Completion(2, 1, 12, "approved", "yt", f"https://www.youtube.com/watch?v={YT}", AT, None),
    Completion(3, 1, 13, "submitted", "TikTok", SHORT, AT, None),
    Completion(4, 1, 14, "submitted", "tt", "HTTPS://VM.TIKTOK.COM/ZMunresolved", AT, None),
    Completion(
        5, 1, 15, "submitted", "douyin", f"https://www.douyin.com/video/{DY_STALE}", AT, None
    ),
    Completion(
        6, 1, 16, "submitted", "douyin", f"https://www.douyin.com/video/{DY_FRESH}", AT, None
    ),
    Completion(7, 1, 17, "submitted", "TikTok", "https://www.tiktok.com/@someone", AT, None),
    Completion(8, 1, 18, "submitted", "Instagram", "https://instagram.com/p/x", AT, None),
    Completion(9, 2, 19, "submitted", "tt", f"https://www.tiktok.com/@u/video/{TT}", AT, None),
]
CACHE = [
    CachedStats("dy", DY_STALE, "gone", (900, 9, 8, 7, 6), fresh=False),
    CachedStats("dy", DY_FRESH, "ok", (100, 1, 2, 3, 4), fresh=True),
]


async def _world(db: Db) -> None:
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1, 2])
        await insert_completions(tx.conn, COMPLETIONS)
        await insert_cache(tx.conn, CACHE)


async def _snapshot(db: Db) -> list[object]:
    async with db.connection() as tx:
        return [
            await tx.conn.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")
            for table in (
                "task_daily_stats",
                "dailystats_video_stats",
                "dailystats_short_links",
                "dailystats_scan_runs",
                "dailystats_deliveries",
            )
        ]


async def test_each_video_with_its_completions_and_source(db: Db) -> None:
    await _world(db)
    report = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test")
    assert report.status == "succeeded"
    before = await _snapshot(db)

    found = await explain_day(db, ScanConfig.defaults(), DAY, external_task_id=1001)

    assert await _snapshot(db) == before  # it only reads
    assert found.task["task_id"] == 1
    by_name = {(v.platform, v.name): v for v in found.videos}
    sources = {key: (v.source, [c.id for c in v.completions]) for key, v in by_name.items()}
    assert sources == {
        ("yt", YT): ("saved", [1, 2]),
        ("tt", "https://vm.tiktok.com/ZMunresolved (short link, unresolved)"): ("missing", [3, 4]),
        ("tt", "no video id in the link"): ("missing", [7]),
        ("dy", DY_STALE): ("last_known", [5]),
        ("dy", DY_FRESH): ("cache", [6]),
    }
    stale = by_name[("dy", DY_STALE)]
    assert stale.counts == {"views": 900, "likes": 9, "comments": 8, "shares": 7, "collects": 6}
    assert stale.cache is not None and stale.cache["status"] == "gone"
    assert by_name[("yt", YT)].counts["views"] == 7
    assert [c.id for c in found.no_platform] == [8]
    assert [c.link for c in by_name[("yt", YT)].completions] == [
        f"https://youtu.be/{YT}",
        f"https://www.youtube.com/watch?v={YT}",
    ]
    # The stored row is what the same classification sums to.
    assert found.differs == []
    assert found.computed["dy_view_count"] == 1000
    assert found.last_run is not None and found.last_run["videos_stale"] == 1
    text = render(found)
    assert "last_known" in text and "    5 " in text  # user_task 5 in its video's table
    assert "matches what a scan would compute now" in text


async def test_a_changed_day_is_told_apart_from_the_stored_row(db: Db) -> None:
    await _world(db)
    await scan_day(db, DAY, ScanConfig.defaults(), trigger="test")
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE user_tasks SET verification_details = '{\"view_count\": 1e5}' WHERE id = 2"
        )
    found = await explain_day(db, ScanConfig.defaults(), DAY, task_id=1)
    assert found.differs == ["yt_view_count"]
    assert found.computed["yt_view_count"] == 100000  # an integral JSON number counts
    assert "dailystats scan --date 2024-12-09" in render(found)


def test_explain_as_a_command(db_url: str) -> None:
    async def setup() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            await insert_tasks(conn, [1, 2])
            await insert_completions(conn, COMPLETIONS)
            await insert_cache(conn, CACHE)
        finally:
            await conn.close()

    asyncio.run(setup())
    env = {"DATABASE_URL": db_url}
    result = run_cli("explain", "--x2c-task", "1002", "--date", "2024-12-09", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["task"]["task_id"] == 2
    [video] = data["videos"]
    assert (video["platform"], video["video_id"], video["source"]) == ("tt", TT, "missing")
    assert [c["id"] for c in video["completions"]] == [9]
    assert data["stored"] is None  # never scanned: explain does not write the row
    assert data["differs"]

    text = run_cli("explain", "--task", "1", "--date", "2024-12-09", env=env)
    assert text.returncode == 0, text.stderr
    # user_task 8 in the table of completions on no platform
    assert re.search(r"(?m)^ +8 +18 +submitted +https://instagram.com/p/x", text.stdout)

    missing = run_cli("explain", "--task", "99", "--date", "2024-12-09", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "dailystats: no task 99 in drama_tasks"


async def test_status_shows_videos_on_last_known_stats(db: Db, db_url: str) -> None:
    await _world(db)
    report = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test")
    assert report.videos_stale == 1  # the Douyin video since gone, on its last known stats
    result = await asyncio.to_thread(run_cli, "status", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    header, row = (line.split() for line in result.stdout.splitlines()[1:3])
    assert header[-3:-1] == ["missing", "stale"] and row[-3:-1] == ["3", "1"]
    as_json = await asyncio.to_thread(run_cli, "status", "--json", env={"DATABASE_URL": db_url})
    assert json.loads(as_json.stdout)["runs"][0]["videos_stale"] == 1
