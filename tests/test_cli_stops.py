"""`dailystats stops` and the provider part of `dailystats status`, as a process."""

from __future__ import annotations

import json

import asyncpg

from tests.test_cli import run_cli


async def test_stops_list_status_and_clear(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO dailystats_provider_stops (provider, reason, until, key_fingerprint)"
            " VALUES ('tikhub', 'tikhub out of balance (402)', NULL, 'abc'),"
            " ('youtube', 'youtube quota exceeded', now() + interval '3 hours', NULL)"
        )
        await conn.execute(
            "INSERT INTO dailystats_tikhub_spend (spend_date, endpoint, calls, usd)"
            " VALUES ((now() AT TIME ZONE 'UTC')::date, 'tiktok_multi', 3, 0.075)"
        )
    finally:
        await conn.close()
    env = {"DATABASE_URL": db_url, "TIKHUB_DAILY_BUDGET_USD": "5"}

    listed = run_cli("stops", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {s["provider"] for s in json.loads(listed.stdout)["stops"]} == {"tikhub", "youtube"}

    status = run_cli("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "tikhub: tikhub out of balance (402)" in status.stdout
    assert "tikhub spend" in status.stdout and "$0.075 of $5.00 budget" in status.stdout
    data = json.loads(run_cli("status", "--json", env=env).stdout)
    assert data["tikhub_spend_today"]["endpoints"] == [
        {"endpoint": "tiktok_multi", "calls": 3, "usd": "0.075000"}
    ]
    assert "abc" not in json.dumps(data)  # no key material, not even its digest

    cleared = run_cli("stops", "clear", "tikhub", "--json", env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout) == {"provider": "tikhub", "cleared": True}
    again = run_cli("stops", "clear", "tikhub", env=env)
    assert again.returncode == 0 and "no stop" in again.stdout
    left = json.loads(run_cli("stops", "--json", env=env).stdout)["stops"]
    assert [s["provider"] for s in left] == ["youtube"]
    missing = run_cli("stops", "clear", env=env)
    assert missing.returncode == 1 and "which provider" in missing.stderr


async def test_status_shows_a_stop_whose_key_changed_as_such_without_clearing_it(
    db_url: str,
) -> None:
    from daemon.fetch.stops import key_fingerprint

    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO dailystats_provider_stops (provider, reason, until, key_fingerprint)"
            " VALUES ('tikhub', 'tikhub out of balance (402)', NULL, $1)",
            key_fingerprint("old-key"),
        )
        env = {"DATABASE_URL": db_url, "TIKHUB_API_KEY": "new-key"}
        status = run_cli("status", env=env)
        assert status.returncode == 0, status.stderr
        line = next(x for x in status.stdout.splitlines() if "out of balance" in x)
        assert "key changed" in line
        same = run_cli("status", env={"DATABASE_URL": db_url, "TIKHUB_API_KEY": "old-key"})
        line = next(x for x in same.stdout.splitlines() if "out of balance" in x)
        assert "key changed" not in line
        # Shown, not cleared: the daemon, with its own key, decides for itself.
        assert await conn.fetchval("SELECT count(*) FROM dailystats_provider_stops") == 1
        assert "new-key" not in status.stdout and "old-key" not in status.stdout
    finally:
        await conn.close()
