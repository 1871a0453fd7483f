"""Issue 15: the classification kept between scans, checked against the Python reference
computed from scratch after random sequences of changes to the bot's rows."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import asyncpg
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from daemon.rules.links import classify_completion, detect_platform, short_link_key
from daemon.run.classifier import classify_pass
from daemon.scan import scope
from daemon.scan.classify import build_day_completions
from daemon.scan.day import ScanConfig, scan_day
from daemon.store.db import Db
from tests.scan.scan_reference import (
    COMPLETED,
    STAT_COLUMNS,
    Completion,
    _details_text,
    expected_scan,
    in_day,
    insert_completions,
    insert_tasks,
    saved_counts,
    stored_rows,
)
from tests.scan.test_partial import check_same_as_whole
from tests.scan.test_scan import ALIASES, DAYS, LINKS, PLATFORMS, SHORT_LINKS, ZONES, details_values

USERS = range(1, 7)
NODES = (None, "", "   ", "north", " north ", "south")
UNKNOWN_SHORT = short_link_key("https://vm.tiktok.com/ZMunknown/")
TT_VIDEO = "7312345678901234567"
STATUSES = (*COMPLETED, "rejected", "in_progress")


def _midnight_utc(day: date, zone: str) -> datetime:
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zone))
    return midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


# Seconds from the day's midnight (in its zone): inside it, and across both edges.
offsets = st.one_of(
    st.integers(0, 22 * 3600),
    st.integers(-3 * 3600, 3 * 3600),
    st.integers(21 * 3600, 27 * 3600),
)


@st.composite
def links_and_platforms(draw: st.DrawFn) -> tuple[str | None, str | None]:
    link = draw(st.sampled_from(LINKS[:4]) | st.sampled_from(LINKS[9:14]) | st.sampled_from(LINKS))
    host = detect_platform(None, link)
    platform = draw(st.sampled_from(ALIASES.get(host, (None,))) | st.sampled_from(PLATFORMS))
    return link, platform


@st.composite
def completion_fields(draw: st.DrawFn) -> dict[str, Any]:
    link, platform = draw(links_and_platforms())
    return {
        "task_id": draw(st.integers(1, 3)),
        "user_id": draw(st.sampled_from(USERS)),
        "status": draw(st.sampled_from((*COMPLETED, *STATUSES))),
        "platform": platform,
        "link": link,
        "offset": draw(st.one_of(st.none(), offsets)),
        "details": draw(details_values),
    }


steps = st.one_of(
    st.tuples(st.just("insert"), completion_fields()),
    st.tuples(st.just("status"), st.integers(0, 99), st.sampled_from(STATUSES)),
    st.tuples(st.just("link"), st.integers(0, 99), links_and_platforms()),
    st.tuples(st.just("details"), st.integers(0, 99), details_values),
    st.tuples(st.just("platform"), st.integers(0, 99), st.sampled_from(PLATFORMS)),
    st.tuples(st.just("moment"), st.integers(0, 99), st.one_of(st.none(), offsets)),
    st.tuples(st.just("verified"), st.integers(0, 99), st.integers(-3600, 3600)),
    st.tuples(st.just("touch"), st.integers(0, 99)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.tuples(st.just("node"), st.sampled_from(USERS), st.sampled_from(NODES)),
    st.tuples(st.just("resolve")),
    st.tuples(st.just("zone"), st.sampled_from(ZONES)),
)


# Changes to the bot's rows alone: each is noted row by row, so every rescan after
# them aggregates partially (none of a node, a zone or a short link's answer).
row_steps = st.one_of(
    st.tuples(st.just("insert"), completion_fields()),
    st.tuples(st.just("status"), st.integers(0, 99), st.sampled_from(STATUSES)),
    st.tuples(st.just("link"), st.integers(0, 99), links_and_platforms()),
    st.tuples(st.just("details"), st.integers(0, 99), details_values),
    st.tuples(st.just("moment"), st.integers(0, 99), st.one_of(st.none(), offsets)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
)


@st.composite
def histories(draw: st.DrawFn, steps: st.SearchStrategy[Any] = steps) -> dict[str, Any]:
    return {
        "zone": draw(st.sampled_from(ZONES)),
        "day": draw(st.sampled_from(DAYS)),
        "initial": draw(st.lists(completion_fields(), max_size=12)),
        # Whether the intraday pass ran before the first scan (it groups the day ahead).
        "pass_first": draw(st.booleans()),
        # Between scans: some changes, and whether the intraday pass ran before the scan.
        "rounds": draw(
            st.lists(st.tuples(st.lists(steps, max_size=5), st.booleans()), min_size=1, max_size=4)
        ),
    }


class Model:
    """The bot's rows as the test wrote them: what the reference is computed from."""

    def __init__(self, day: date, zone: str) -> None:
        self.day = day
        self.zone = zone
        self.rows: dict[int, Completion] = {}
        self.verified: dict[int, datetime] = {}
        self.nodes: dict[int, str | None] = dict.fromkeys(USERS)
        self.short_links = dict(SHORT_LINKS)
        self.next_id = 1

    def moment(self, offset: int | None) -> datetime | None:
        if offset is None:
            return None
        return _midnight_utc(self.day, self.zone) + timedelta(seconds=offset)

    def new(self, fields: dict[str, Any]) -> Completion:
        row = Completion(
            id=self.next_id,
            task_id=fields["task_id"],
            user_id=fields["user_id"],
            status=fields["status"],
            platform=fields["platform"],
            link=fields["link"],
            submitted_at=self.moment(fields["offset"]),
            details=fields["details"],
        )
        self.next_id += 1
        self.rows[row.id] = row
        return row

    def pick(self, index: int) -> Completion | None:
        if not self.rows:
            return None
        return self.rows[sorted(self.rows)[index % len(self.rows)]]


async def _apply(conn: asyncpg.Connection, model: Model, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "insert":
        await insert_completions(conn, [model.new(step[1])])
        return
    if kind == "node":
        model.nodes[step[1]] = step[2]
        await conn.execute("UPDATE users SET agent_node = $2 WHERE user_id = $1", step[1], step[2])
        return
    if kind == "resolve":
        model.short_links[UNKNOWN_SHORT] = ("tt", TT_VIDEO)
        await conn.execute(
            "INSERT INTO dailystats_short_links (link, platform, video_id) VALUES ($1, 'tt', $2)"
            " ON CONFLICT (link) DO NOTHING",
            UNKNOWN_SHORT,
            TT_VIDEO,
        )
        return
    if kind == "zone":
        model.zone = step[1]
        return
    row = model.pick(step[1])
    if row is None:
        return
    if kind == "delete":
        del model.rows[row.id]
        model.verified.pop(row.id, None)
        await conn.execute("DELETE FROM user_tasks WHERE id = $1", row.id)
        return
    if kind == "touch":  # an update that changes nothing the scan reads
        await conn.execute(
            "UPDATE user_tasks SET node_power_earned = node_power_earned + 1 WHERE id = $1", row.id
        )
        return
    if kind == "verified":
        if row.submitted_at is None:
            return
        at = row.submitted_at + timedelta(seconds=step[2])
        model.verified[row.id] = at
        await conn.execute("UPDATE user_tasks SET verified_at = $2 WHERE id = $1", row.id, at)
        return
    # Real updates of the bot's row, one column (or two) at a time.
    if kind == "status":
        new = dataclasses.replace(row, status=step[2])
        await conn.execute("UPDATE user_tasks SET status = $2 WHERE id = $1", row.id, step[2])
    elif kind == "link":
        new = dataclasses.replace(row, link=step[2][0], platform=step[2][1])
        await conn.execute(
            "UPDATE user_tasks SET submission_link = $2, platform = $3 WHERE id = $1",
            row.id,
            *step[2],
        )
    elif kind == "details":
        new = dataclasses.replace(row, details=step[2])
        await conn.execute(
            "UPDATE user_tasks SET verification_details = $2::jsonb WHERE id = $1",
            row.id,
            _details_text(step[2]),
        )
    elif kind == "platform":
        new = dataclasses.replace(row, platform=step[2])
        await conn.execute("UPDATE user_tasks SET platform = $2 WHERE id = $1", row.id, step[2])
    else:  # moment: across the day's edges, or NULL
        new = dataclasses.replace(row, submitted_at=model.moment(step[2]))
        await conn.execute(
            "UPDATE user_tasks SET submitted_at = $2 WHERE id = $1", row.id, new.submitted_at
        )
    model.rows[row.id] = new


def _expected_classification(model: Model) -> dict[int, tuple[Any, ...]]:
    zone = ZoneInfo(model.zone)
    out = {}
    for row in model.rows.values():
        if row.status not in COMPLETED or not in_day(row.submitted_at, model.day, zone):
            continue
        kind = classify_completion(row.platform, row.link)
        short = short_link_key(row.link) if kind.is_short and row.link is not None else None
        out[row.id] = (
            row.task_id,
            row.user_id,
            kind.platform,
            kind.video_id,
            kind.is_short,
            short,
            *saved_counts(row.details),
            row.submitted_at,
            model.verified.get(row.id, row.submitted_at),
        )
    return out


def _node(value: str | None) -> str | None:
    return (value.strip(" ") or None) if value is not None else None


async def _check(db: Db, model: Model) -> None:
    zone = ZoneInfo(model.zone)
    expected, _ = expected_scan(
        list(model.rows.values()), model.day, zone, model.short_links, [], False
    )
    async with db.connection() as tx:
        stored = await stored_rows(tx.conn, model.day)
        # A task that had completions at an earlier scan keeps its row, zeroed.
        zero = dict.fromkeys(STAT_COLUMNS, 0)
        assert stored == {t: expected.get(t, zero) for t in stored}
        assert set(expected) <= set(stored)

        classified = await tx.conn.fetch(
            "SELECT * FROM dailystats_completions WHERE stats_date = $1", model.day
        )
        got = {
            r["id"]: (
                r["task_id"],
                r["user_id"],
                r["platform"],
                r["video_id"],
                r["is_short"],
                r["short_link"],
                r["views"],
                r["likes"],
                r["comments"],
                r["shares"],
                r["collects"],
                r["submitted_at"],
                r["saved_at"],
            )
            for r in classified
        }
        assert got == _expected_classification(model)

        # The scan's view of the day: every column, nodes as they are now.
        await build_day_completions(tx, model.day)
        try:
            rows = await tx.conn.fetch("SELECT * FROM pg_temp.day_completions")
        finally:
            await tx.execute("drop_day_completions")
        assert {r["id"]: r["agent_node"] for r in rows} == {
            i: _node(model.nodes[model.rows[i].user_id]) for i in got
        }
        assert {r["id"]: (r["submitted_at"], r["saved_at"]) for r in rows} == {
            i: (v[-2], v[-1]) for i, v in got.items()
        }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
async def test_kept_classification_matches_the_reference_after_any_changes(
    db: Db, history: dict[str, Any]
) -> None:
    await _run_history(db, history, rows_only=False)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(row_steps))
async def test_partial_aggregations_match_the_reference_after_row_changes(
    db: Db, history: dict[str, Any]
) -> None:
    await _run_history(db, history, rows_only=True)


async def _run_history(db: Db, history: dict[str, Any], *, rows_only: bool) -> None:
    model = Model(history["day"], history["zone"])
    async with db.connection() as tx:
        conn = tx.conn
        await conn.execute(
            "TRUNCATE user_tasks, users, drama_tasks, task_daily_stats, dailystats_short_links,"
            " dailystats_scan_runs, dailystats_completions, dailystats_classified_days,"
            " dailystats_links, dailystats_user_nodes RESTART IDENTITY CASCADE"
        )
        await insert_tasks(conn, [1, 2, 3])
        await conn.executemany(
            "INSERT INTO users (user_id, username) VALUES ($1, $2)", [(u, f"u{u}") for u in USERS]
        )
        await insert_completions(conn, [model.new(f) for f in history["initial"]])
        # Resolved an hour ago, by some earlier scan.
        await conn.executemany(
            "INSERT INTO dailystats_short_links (link, platform, video_id, resolved_at)"
            " VALUES ($1, $2, $3, now() - interval '1 hour')",
            [(link, p, v) for link, (p, v) in SHORT_LINKS.items()],
        )
    for changes, intraday in [([], history["pass_first"]), *history["rounds"]]:
        async with db.connection() as tx:
            for step in changes:
                await _apply(tx.conn, model, step)
        config = ScanConfig.defaults(model.zone)
        if intraday:
            await classify_pass(db, config.zone, config.completed_statuses, [model.day], batch=3)
        # Every change a partial aggregation could take is taken partially (these days
        # are small: the tenth-of-the-day limit would make most of them whole).
        with mock.patch.object(scope, "MAX_CHANGED_SHARE", 100.0):
            report = await scan_day(db, model.day, config, trigger="test")
        assert report.status == "succeeded", report.error
        event(f"partial={report.partial}")
        event(f"grouped_ahead={report.grouped_ahead}")
        if rows_only and report.run_id > 1:  # after the first scan (whole, run 1)
            assert report.partial or report.unchanged
        await _check(db, model)
        await check_same_as_whole(db, model.day, config)

    # Nothing changed since: the rescan classifies nothing and writes nothing (a short
    # link resolved in the last round was already aggregated: it is older now).
    async with db.connection() as tx:
        await tx.conn.execute(
            "UPDATE dailystats_short_links SET resolved_at = resolved_at - interval '1 hour'"
        )
    again = await scan_day(db, model.day, ScanConfig.defaults(model.zone), trigger="test")
    assert again.status == "succeeded", again.error
    assert (again.unchanged, again.rows_classified, again.rows_changed) == (True, 0, 0)
    await _check(db, model)
