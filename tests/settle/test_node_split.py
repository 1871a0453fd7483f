"""The split by agent node (spec section 9), held against a Python reference of the spec."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.demo.fake_receiver import WebhookReceiver
from daemon.scan.day import ScanConfig, scan_day
from daemon.settle.audit import audit_range
from daemon.settle.explain import explain_day
from daemon.settle.explain_text import render
from daemon.store.db import Db
from tests.scan.scan_reference import (
    STAT_COLUMNS,
    Completion,
    insert_completions,
    insert_tasks,
    stored_rows,
)
from tests.settle.node_reference import expected_split
from tests.settle.settle_world import CONFIG, YT, add_completion, add_task, send
from tests.webhook.webhook_world import scan

DAY = date(2024, 12, 9)
MIDNIGHT = datetime(2024, 12, 9)
# NULL, empty, blank and case variants; one of them with a tab, one in Chinese.
NODES = [None, "", "   ", "\t", "North", "north", " North ", "NORTH", "South", "华东", "华东 "]
LINKS = [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ?si=x",  # the same video, written otherwise
    "https://www.youtube.com/shorts/9bZkp7q19f0",
    "https://www.tiktok.com/@a/video/7300000000000000001",
    "https://www.tiktok.com/@b/video/7300000000000000002",
    "https://www.douyin.com/video/7400000000000000001",
    "https://www.iesdouyin.com/share/video/7400000000000000001",
    "https://www.tiktok.com/@someone",  # names no video: stands alone
    "https://www.instagram.com/reel/abc/",  # other
]
VIDEO_OF = {1: 0, 6: 5}  # links that name the same video share its saved details
counts = st.integers(0, 10**6) | st.sampled_from([2**62, 2**63 - 1])
details = st.none() | st.fixed_dictionaries(
    {k: counts for k in ("view_count", "like_count", "comment_count")},
    optional={"share_count": counts, "collect_count": counts},
)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    users = draw(st.integers(1, 8))
    nodes = {u: draw(st.sampled_from(NODES)) for u in range(1, users + 1)}
    saved = [draw(details) for _ in LINKS]
    saved = [saved[VIDEO_OF.get(i, i)] for i in range(len(LINKS))]
    completions = []
    for i in range(draw(st.integers(0, 30))):
        link = draw(st.integers(0, len(LINKS) - 1))
        completions.append(
            Completion(
                id=i + 1,
                task_id=draw(st.integers(1, 2)),
                user_id=draw(st.integers(1, users)),
                status=draw(st.sampled_from(("submitted", "approved", "verified", "rejected"))),
                platform=None,
                link=LINKS[link],
                # few distinct times, so earliest-completion ties are common
                submitted_at=MIDNIGHT + timedelta(hours=draw(st.sampled_from((1, 1, 2, 25)))),
                details=saved[link],
            )
        )
    moves = draw(st.dictionaries(st.integers(1, users), st.sampled_from(NODES)))
    rejected = draw(st.sets(st.integers(1, max(len(completions), 1)), max_size=4))
    return {"nodes": nodes, "completions": completions, "moves": moves, "rejected": rejected}


async def stored_split(
    conn: asyncpg.Connection, day: date
) -> dict[tuple[int, str], dict[str, int]]:
    rows = await conn.fetch("SELECT * FROM dailystats_node_stats WHERE stats_date = $1", day)
    return {(r["task_id"], r["agent_node"]): {c: r[c] for c in STAT_COLUMNS} for r in rows}


def _sums(split: dict[tuple[int, str], dict[str, int]], task_id: int) -> dict[str, int]:
    parts = [row for (task, _), row in split.items() if task == task_id]
    return {c: sum(row[c] for row in parts) for c in STAT_COLUMNS}


async def _check(db: Db, completions: list[Completion], nodes: dict[int, str | None]) -> None:
    report = await scan_day(db, DAY, ScanConfig.defaults(), trigger="test")
    assert report.status == "succeeded", report.error
    async with db.connection() as tx:
        split = await stored_split(tx.conn, DAY)
        rows = await stored_rows(tx.conn, DAY)
    assert split == expected_split(completions, nodes, DAY, ZoneInfo("UTC"))
    for task_id, row in rows.items():  # below 2^63 the nodes add up to the row exactly
        if all(v < 2**63 - 1 for v in row.values()):
            assert _sums(split, task_id) == row
    assert all(r["total_completion_count"] > 0 for r in split.values())  # no empty node


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds())
async def test_the_stored_split_is_section_9s(db: Db, world: dict[str, Any]) -> None:
    nodes: dict[int, str | None] = world["nodes"]
    completions: list[Completion] = world["completions"]
    async with db.connection() as tx:
        await tx.conn.execute(
            "TRUNCATE user_tasks, users, drama_tasks, task_daily_stats, dailystats_node_stats,"
            " dailystats_scan_runs RESTART IDENTITY CASCADE"
        )
        await insert_tasks(tx.conn, [1, 2, 3])
        await tx.conn.executemany(
            "INSERT INTO users (user_id, username, agent_node) VALUES ($1, 'u', $2)",
            list(nodes.items()),
        )
        await insert_completions(tx.conn, completions)
    await _check(db, completions, nodes)

    # Users move between nodes and completions are rejected: the rescan follows both,
    # and a node left with no completions loses its row.
    nodes = {**nodes, **world["moves"]}
    completions = [
        Completion(**{**c.__dict__, "status": "rejected"}) if c.id in world["rejected"] else c
        for c in completions
    ]
    async with db.connection() as tx:
        await tx.conn.executemany(
            "UPDATE users SET agent_node = $2 WHERE user_id = $1", list(world["moves"].items())
        )
        await tx.conn.execute(
            "UPDATE user_tasks SET status = 'rejected' WHERE id = ANY($1::int[])",
            sorted(world["rejected"]),
        )
    await _check(db, completions, nodes)


async def test_a_video_falls_to_its_earliest_completions_node(db: Db) -> None:
    link = LINKS[0]
    saved = {"view_count": 100, "like_count": 10, "comment_count": 1}
    at = MIDNIGHT + timedelta(hours=5)
    completions = [
        Completion(3, 1, 3, "submitted", None, LINKS[1], at, saved),  # same time, higher id
        Completion(2, 1, 2, "submitted", None, link, at, saved),  # earliest: lowest id wins
        Completion(1, 1, 1, "submitted", None, link, at + timedelta(minutes=1), saved),
    ]
    async with db.connection() as tx:
        await insert_tasks(tx.conn, [1])
        await tx.conn.executemany(
            "INSERT INTO users (user_id, username, agent_node) VALUES ($1, 'u', $2)",
            [(1, "A"), (2, " B "), (3, "C")],
        )
        await insert_completions(tx.conn, completions)
    await _check(db, completions, {1: "A", 2: " B ", 3: "C"})
    async with db.connection() as tx:
        split = await stored_split(tx.conn, DAY)
    assert split[(1, "B")]["yt_view_count"] == 100
    assert split[(1, "A")]["yt_view_count"] == split[(1, "C")]["yt_view_count"] == 0
    assert [split[(1, n)]["yt_account_count"] for n in "ABC"] == [1, 1, 1]
    # explain shows each video's node
    explained = await explain_day(db, ScanConfig.defaults(), DAY, task_id=1)
    assert [(v.video_id, v.agent_node) for v in explained.videos] == [("dQw4w9WgXcQ", "B")]
    shown = render(explained, keyless=())
    assert "YouTube dQw4w9WgXcQ (node B)" in shown and "saved: 100 views" in shown


async def test_nodes_go_on_the_wire_only_when_asked(db: Db) -> None:
    with_nodes = replace(CONFIG, include_nodes=True)
    async with WebhookReceiver() as x2c:
        await add_task(db, 1, x2c.url("/t1"))
        await add_completion(db, 1, DAY, 1, node="North", views=100, hour=1)
        await add_completion(db, 1, DAY, 2, video=YT[1], node=None, views=40, hour=2)
        await add_completion(db, 1, DAY, 3, node="South", views=100, hour=3)  # a repost
        assert (await scan(db, DAY, CONFIG)).deliveries_queued == 1
        assert "nodes" not in await _latest_item(db)  # default off: the wire is unchanged

        # Turned on: the day goes out once more, with its split, unassigned last.
        assert (await scan(db, DAY, with_nodes)).deliveries_queued == 1
        assert (await _latest_item(db))["nodes"] == [
            {"agent_node": "North", "account_count": 1, "yt_account_count": 1,
             "yt_view_count": 100, "yt_like_count": 3},
            {"agent_node": "South", "account_count": 1, "yt_account_count": 1},
            {"agent_node": None, "account_count": 1, "yt_account_count": 1,
             "yt_view_count": 40, "yt_like_count": 3},
        ]  # fmt: skip
        assert (await scan(db, DAY, with_nodes)).deliveries_queued == 0
        assert (await send(db, with_nodes)).delivered == 1

        # A change in the split alone is a changed payload, and the audit sees it.
        await db.pool.execute("UPDATE users SET agent_node = 'East' WHERE user_id = 1")
        report = await audit_range(db, ScanConfig.defaults(), DAY, DAY)
        assert {(f.field, f.delivered, f.now) for f in report.findings} >= {
            ("nodes[North].account_count", 1, 0),
            ("nodes[East].account_count", 0, 1),
            ("nodes[East].yt_view_count", 0, 100),
        }
        assert all(f.field and f.field.startswith("nodes[") for f in report.findings)
        assert (await scan(db, DAY, with_nodes)).deliveries_queued == 1


async def _latest_item(db: Db) -> dict[str, Any]:
    body = await db.pool.fetchval(
        "SELECT body FROM dailystats_deliveries ORDER BY seq DESC LIMIT 1"
    )
    item: dict[str, Any] = json.loads(body)["stats"][0]
    return item
