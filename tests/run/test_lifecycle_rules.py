"""The daemon's lifecycle rules without the process: retry backoff, the day queue, the
nightly date across daylight-saving changes, and the notify protocol on a real socket."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from daemon.run.liveness import Workers, watchdog
from daemon.run.lookback import lookback_window
from daemon.run.notify import Notifier, socket_address, watchdog_interval
from daemon.run.retention import retention_cutoff
from daemon.run.scanqueue import DayQueue, retry_delay
from daemon.run.scheduler import NightlyDates, nightly_due_through

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


# ---------------------------------------------------------------- backoff


@pytest.mark.parametrize(
    ("failures", "rand", "expected"),
    [
        (1, 0.0, 30.0),  # half the first step at least
        (1, 1.0, 60.0),  # the whole step at most
        (2, 0.0, 60.0),  # the step doubles
        (3, 0.5, 180.0),  # 240 -> between 120 and 240
        (6, 1.0, 1000.0),  # 1920 capped at 1000
        (50, 0.0, 500.0),  # still capped, never overflows
        (10_000, 1.0, 1000.0),
        (0, 1.0, 60.0),  # nonsense counts are taken as the first failure
    ],
)
def test_retry_delay_doubles_is_capped_and_jittered(
    failures: int, rand: float, expected: float
) -> None:
    assert retry_delay(failures, 60.0, 1000.0, rand=lambda: rand) == pytest.approx(expected)


def test_retry_delay_jitter_spreads_between_half_and_whole_step() -> None:
    delays = {retry_delay(4, 10.0, 1000.0) for _ in range(200)}
    assert all(40.0 <= d <= 80.0 for d in delays)
    assert len(delays) > 1


# ---------------------------------------------------------------- the day queue


def _due(queue: DayQueue, now: float) -> list[tuple[date, str]]:
    return [(taken.day, taken.trigger) for taken in queue.take_due(now)]


def test_a_failed_day_waits_for_its_retry_without_holding_up_others() -> None:
    queue = DayQueue()
    queue.ask([D1, D2], "catchup", now=0.0)
    assert _due(queue, 0.0) == [(D1, "catchup"), (D2, "catchup")]
    failures, wait = queue.failed(D1, now=1.0, delay=lambda n: 10.0 * n)
    assert (failures, wait) == (1, 10.0)
    queue.ask([D3], "sighup", now=2.0)
    # D3 is due now; D1 only at 11.
    assert _due(queue, 2.0) == [(D3, "sighup")]
    assert queue.next_due() == 11.0
    assert _due(queue, 10.9) == []
    assert _due(queue, 11.0) == [(D1, "retry")]
    # A second failure in a row waits longer; a success resets the count.
    assert queue.failed(D1, now=12.0, delay=lambda n: 10.0 * n) == (2, 20.0)
    assert _due(queue, 32.0) == [(D1, "retry")]
    queue.succeeded(D1)
    assert queue.failed(D1, now=40.0, delay=lambda n: 10.0 * n) == (1, 10.0)


def test_asking_brings_a_retry_forward_but_the_look_back_does_not() -> None:
    queue = DayQueue()
    queue.failed(D1, now=0.0, delay=lambda n: 100.0)
    # The look-back finds D1 still unscanned: it keeps its backoff.
    assert queue.offer([D1, D2], "catchup", now=1.0) == [D2]
    assert _due(queue, 1.0) == [(D2, "catchup")]
    # An operator's SIGHUP (or the nightly job) means now.
    queue.ask([D1], "sighup", now=2.0)
    assert _due(queue, 2.0) == [(D1, "sighup")]


def test_many_asks_while_a_day_waits_give_one_scan() -> None:
    queue = DayQueue()
    for now in (0.0, 1.0, 2.0):
        queue.ask([D1], "sighup", now=now)
    assert queue.event.is_set()
    assert _due(queue, 3.0) == [(D1, "sighup")]
    assert _due(queue, 3.0) == []
    assert queue.next_due() is None


def test_a_day_asked_during_its_failing_scan_is_retried_at_once() -> None:
    queue = DayQueue()
    queue.ask([D1], "sighup", now=5.0)  # SIGHUP while D1's scan runs
    queue.failed(D1, now=6.0, delay=lambda n: 100.0)
    assert _due(queue, 6.0) == [(D1, "sighup")]


@pytest.mark.parametrize(
    ("catchup", "expected"),
    [(0, None), (1, (D3, D3)), (3, (D1, D3)), (366, (D3 - timedelta(days=365), D3))],
)
def test_lookback_window(catchup: int, expected: tuple[date, date] | None) -> None:
    assert lookback_window(D3, catchup) == expected


@pytest.mark.parametrize(("days", "cut"), [(0, None), (400, datetime(2025, 1, 27, tzinfo=UTC))])
def test_retention_cutoff(days: int, cut: datetime | None) -> None:
    assert retention_cutoff(datetime(2026, 3, 3, tzinfo=UTC), days) == cut


# ---------------------------------------------------------------- the nightly date


def _fire_times(cron: str, zone: ZoneInfo, start: datetime, days: int) -> list[datetime]:
    """When APScheduler's own trigger fires over ``days`` days from ``start``."""
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    fires: list[datetime] = []
    previous, now = None, start
    while (fire := trigger.get_next_fire_time(previous, now)) < start + timedelta(days=days):
        fires.append(fire)
        previous = now = fire
    return fires


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        ("America/New_York", "2026-03-06"),  # spring forward 03-08: 02:00-03:00 missing
        ("America/New_York", "2026-10-30"),  # fall back 11-01: 01:00-02:00 twice
        ("Europe/Berlin", "2026-03-27"),  # spring forward 03-29: 02:00-03:00 missing
        ("Europe/Berlin", "2026-10-23"),  # fall back 10-25: 02:00-03:00 twice
        ("UTC", "2026-10-23"),
    ],
)
@pytest.mark.parametrize("cron", ["30 2 * * *", "30 1 * * *", "0 2 * * *"])
def test_a_nightly_run_in_a_dst_gap_or_overlap_scans_yesterday_once(
    zone: str, first: str, cron: str
) -> None:
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(first).replace(tzinfo=tz)
    fires = _fire_times(cron, tz, start, days=5)
    nightly = NightlyDates()
    # The job reads the clock when it runs: the fire instant, in UTC.
    asked = [d for f in fires if (d := nightly.day_for(f.astimezone(UTC), tz)) is not None]
    assert asked == [start.date() + timedelta(days=n - 1) for n in range(5)]


def test_a_cron_firing_several_times_a_night_asks_each_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 10, 24, tzinfo=berlin)
    fires = _fire_times("0 */6 * * *", berlin, start, days=2)
    nightly = NightlyDates()
    asked = [nightly.day_for(f.astimezone(UTC), berlin) for f in fires]
    # 4 runs a day, and the 25th has one more hour but no repeated 00/06/12/18 o'clock.
    assert asked == [date(2026, 10, 23)] * 4 + [date(2026, 10, 24)] * 4


def test_the_overlap_really_fires_twice_so_the_guard_matters() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    fires = _fire_times("30 2 * * *", berlin, datetime(2026, 10, 25, tzinfo=berlin), days=1)
    assert len(fires) == 2


@pytest.mark.parametrize(
    ("cron", "zone", "now", "through"),
    [
        ("0 2 * * *", "UTC", "2026-03-10T01:59:00+00:00", date(2026, 3, 8)),
        ("0 2 * * *", "UTC", "2026-03-10T02:00:00+00:00", date(2026, 3, 9)),
        ("0 2 * * *", "UTC", "2026-03-10T23:59:00+00:00", date(2026, 3, 9)),
        # in the stats zone: 02:00 in New York is 06:00 UTC in summer time
        ("0 2 * * *", "America/New_York", "2026-03-10T05:59:00+00:00", date(2026, 3, 8)),
        ("0 2 * * *", "America/New_York", "2026-03-10T06:00:00+00:00", date(2026, 3, 9)),
        # the spring-forward night: 02:30 does not exist, the run is at 03:30 EDT
        ("30 2 * * *", "America/New_York", "2026-03-08T07:29:00+00:00", date(2026, 3, 6)),
        ("30 2 * * *", "America/New_York", "2026-03-08T07:30:00+00:00", date(2026, 3, 7)),
        # the fall-back night in Berlin: the first 02:30 (CEST) is 00:30 UTC
        ("30 2 * * *", "Europe/Berlin", "2026-10-25T00:29:00+00:00", date(2026, 10, 23)),
        ("30 2 * * *", "Europe/Berlin", "2026-10-25T00:31:00+00:00", date(2026, 10, 24)),
        # a cron that does not fire today: only up to the day before yesterday
        ("0 2 1 1 *", "UTC", "2026-03-10T12:00:00+00:00", date(2026, 3, 8)),
        ("* * * * *", "UTC", "2026-03-10T00:00:30+00:00", date(2026, 3, 9)),
    ],
)
def test_the_periodic_look_back_never_runs_ahead_of_the_nightly_job(
    cron: str, zone: str, now: str, through: date
) -> None:
    tz = ZoneInfo(zone)
    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    assert nightly_due_through(trigger, datetime.fromisoformat(now), tz) == through


# ---------------------------------------------------------------- sd_notify


@pytest.mark.parametrize(
    ("value", "address"),
    [("/run/systemd/notify", "/run/systemd/notify"), ("@sd/notify", b"\0sd/notify")],
)
def test_notify_socket_address(value: str, address: str | bytes) -> None:
    assert socket_address(value) == address


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, None),  # another process's
    ],
)
def test_watchdog_interval_is_half_the_timeout_for_this_process(
    env: dict[str, str], interval: float | None
) -> None:
    assert watchdog_interval(env, pid=42) == interval


def _listener(abstract: bool, tmp: str) -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"dailystats-test-{uuid.uuid4().hex}"
        sock.bind(b"\0" + name.encode())
        value = "@" + name
    else:
        value = os.path.join(tmp, "notify")
        sock.bind(value)
    sock.setblocking(False)
    return sock, value


async def _recv(sock: socket.socket, within: float = 10) -> str:
    loop = asyncio.get_running_loop()
    return (await asyncio.wait_for(loop.sock_recv(sock, 4096), within)).decode()


@pytest.mark.parametrize("abstract", [False, True])
async def test_notifier_sends_states_as_datagrams(abstract: bool, tmp_path: object) -> None:
    sock, value = _listener(abstract, str(tmp_path))
    with sock:
        notifier = Notifier({"NOTIFY_SOCKET": value})
        assert notifier.send("READY=1")
        assert await _recv(sock) == "READY=1"


def test_notifier_without_a_socket_is_a_no_op_and_a_gone_socket_is_not_fatal(
    tmp_path: object,
) -> None:
    assert not Notifier({}).send("READY=1")
    gone = Notifier({"NOTIFY_SOCKET": os.path.join(str(tmp_path), "nobody-listens")})
    assert gone.enabled and not gone.send("READY=1")


async def test_watchdog_pings_while_workers_live_and_stops_for_good_when_one_dies(
    tmp_path: object,
) -> None:
    sock, value = _listener(False, str(tmp_path))
    with sock:
        notifier = Notifier({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "100000"})
        workers = Workers()
        crash = asyncio.Event()

        async def scan_loop() -> None:
            await crash.wait()  # a long legitimate wait is alive
            raise RuntimeError("a bug")

        workers.start("scan", scan_loop())
        workers.start("retry", asyncio.Event().wait())
        stop = asyncio.Event()
        pinger = asyncio.create_task(watchdog(notifier, workers, stop))
        for _ in range(3):
            assert await _recv(sock) == "WATCHDOG=1"
        assert workers.problem() is None

        crash.set()
        # The watchdog gives up on its own (stop is never set): no ping ever again.
        await asyncio.wait_for(pinger, 10)
        assert not stop.is_set()
        assert workers.problem() == "worker scan stopped"
        while True:  # drain what was sent before the worker died
            try:
                assert sock.recv(4096) == b"WATCHDOG=1"
            except BlockingIOError:
                break
        workers.tasks["retry"].cancel()
