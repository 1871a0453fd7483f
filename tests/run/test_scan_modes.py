"""The day queue's mode rules (spec section 7): a day waits once, in the mode that does
everything asked of it; a retry keeps the mode that failed; a settle rescan is owed only
while its day is in the window; yesterday is scanned before the days it settles."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from daemon.run.scanqueue import DayQueue, Taken, merge_modes, settle_days
from daemon.scan.day import ScanMode

Y = date(2026, 3, 10)


def _day(n: int) -> date:
    return Y - timedelta(days=n)


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        ("settle", "settle", "settle"),
        ("settle", "incomplete", "incomplete"),
        ("incomplete", "settle", "incomplete"),
        ("settle", "full", "full"),
        ("full", "settle", "full"),
        ("incomplete", "full", "full"),
        ("full", "incomplete", "full"),
        ("full", "full", "full"),
    ],
)
def test_asks_for_a_waiting_day_merge_into_the_mode_that_refreshes_most(
    first: ScanMode, second: ScanMode, merged: ScanMode
) -> None:
    assert merge_modes(first, second) == merged
    for second_way in ("ask", "offer"):
        queue = DayQueue()
        queue.ask([Y], "a", 0.0, first)
        getattr(queue, second_way)([Y], "b", 0.0, second)
        [taken] = queue.take_due(0.0)
        assert taken.mode == merged, second_way


@pytest.mark.parametrize("mode", ["full", "settle", "incomplete"])
def test_a_retry_keeps_the_mode_of_the_scan_that_failed(mode: ScanMode) -> None:
    queue = DayQueue()
    queue.failed(Y, 0.0, lambda n: 10.0, mode)
    assert queue.take_due(9.0) == []
    assert queue.take_due(10.0) == [Taken(Y, "retry", mode)]


@pytest.mark.parametrize(
    ("failed", "asked", "mode", "due_at"),
    [
        # the nightly run asks a failed settle day again: now, still a settle rescan
        ("settle", "settle", "settle", 0.0),
        # a settle rescan that failed and is then asked for a full scan (SIGHUP): full, now
        ("settle", "full", "full", 0.0),
        # a full scan that failed is never downgraded by a settle ask
        ("full", "settle", "full", 0.0),
        ("incomplete", "settle", "incomplete", 0.0),
    ],
)
def test_an_ask_while_a_retry_waits_brings_it_forward_keeping_the_most(
    failed: ScanMode, asked: ScanMode, mode: ScanMode, due_at: float
) -> None:
    queue = DayQueue()
    queue.failed(Y, 0.0, lambda n: 100.0, failed)
    queue.ask([Y], "again", 0.0, asked)
    [taken] = queue.take_due(due_at)
    assert taken.mode == mode


def test_the_look_back_keeps_a_retrys_time_but_adds_its_mode() -> None:
    queue = DayQueue()
    queue.failed(Y, 0.0, lambda n: 100.0, "settle")
    assert queue.offer([Y], "incomplete", 1.0, "incomplete") == []
    assert queue.take_due(1.0) == []  # still in backoff
    assert queue.take_due(100.0) == [Taken(Y, "retry", "incomplete")]


def test_a_failure_during_a_newer_ask_keeps_the_ask() -> None:
    queue = DayQueue()
    queue.ask([Y], "sighup", 5.0, "full")  # SIGHUP while a settle rescan of Y runs
    queue.failed(Y, 6.0, lambda n: 100.0, "settle")
    assert queue.take_due(6.0) == [Taken(Y, "sighup", "full")]


@pytest.mark.parametrize(
    ("day", "settle_from", "kept"),
    [
        (_day(3), _day(3), True),  # the window's oldest day
        (_day(4), _day(3), False),  # the window moved past it: settled, not owed
        (_day(1), _day(3), True),
        (_day(4), None, True),  # no window given: kept
    ],
)
def test_a_failed_settle_rescan_is_retried_only_while_its_day_is_in_the_window(
    day: date, settle_from: date | None, kept: bool
) -> None:
    queue = DayQueue()
    queue.failed(day, 0.0, lambda n: 10.0, "settle")
    taken = queue.take_due(10.0, settle_from)
    assert taken == ([Taken(day, "retry", "settle")] if kept else [])
    assert queue.due == {}
    assert (day in queue.failures) is kept


@pytest.mark.parametrize("mode", ["full", "incomplete"])
def test_a_day_owed_more_than_a_settle_rescan_outlives_the_window(mode: ScanMode) -> None:
    queue = DayQueue()
    queue.failed(_day(30), 0.0, lambda n: 10.0, mode)
    assert queue.take_due(10.0, _day(3)) == [Taken(_day(30), "retry", mode)]


def test_yesterday_first_then_the_settle_days_newest_first_after_owed_days() -> None:
    queue = DayQueue()
    queue.ask([Y], "cron", 0.0, "full")
    queue.ask(settle_days(Y, 3), "settle", 0.0, "settle")
    queue.offer([_day(20)], "catchup", 0.0, "full")
    queue.offer([_day(9)], "incomplete", 0.0, "incomplete")
    assert [(t.day, t.mode) for t in queue.take_due(0.0, _day(3))] == [
        (_day(20), "full"),
        (_day(9), "incomplete"),
        (Y, "full"),
        (_day(1), "settle"),
        (_day(2), "settle"),
        (_day(3), "settle"),
    ]


@pytest.mark.parametrize(
    ("window", "days"),
    [(0, []), (1, [_day(1)]), (3, [_day(1), _day(2), _day(3)])],
)
def test_the_settle_days_of_a_nightly_run(window: int, days: list[date]) -> None:
    assert settle_days(Y, window) == days
