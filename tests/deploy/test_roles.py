"""The two database roles: a missing privilege is named in one line, exit 2, for
``migrate`` (not the owner) and for ``run`` and the commands (grants missing); with
deploy/postgres/grant_daemon.sql the daemon's role needs nothing more, and an up-to-date
``migrate`` (the unit's ExecStartPre) runs as it."""

from __future__ import annotations

import json

from tests.deploy.roles import bot_database_with_roles, grant_daemon
from tests.test_cli import run_cli


async def test_migrate_as_a_role_that_does_not_own_the_tables_names_the_privilege(
    empty_db_url: str,
) -> None:
    async with bot_database_with_roles(empty_db_url) as roles:
        done = run_cli("migrate", env={"DATABASE_URL": roles.daemon_url})
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("dailystats: migration 0001_")
        assert "permission denied for schema public" in line
        assert "as the owner role" in line and "Traceback" not in done.stderr


async def test_without_grants_run_and_scan_name_the_missing_privilege(empty_db_url: str) -> None:
    async with bot_database_with_roles(empty_db_url) as roles:
        migrated = run_cli("migrate", env={"DATABASE_URL": roles.owner_url})
        assert migrated.returncode == 0, migrated.stderr
        env = {"DATABASE_URL": roles.daemon_url, "HEALTH_PORT": "0", "CATCHUP_DAYS": "0"}

        run = run_cli("run", env=env)
        assert run.returncode == 2, run.stderr
        (line,) = run.stderr.splitlines()
        event = json.loads(line)
        assert event["event"] == "service.missing_privilege"
        assert f"the database role {roles.daemon} lacks SELECT on table " in event["error"]
        assert "grant_daemon.sql" in event["error"]

        scan = run_cli("scan", "--date", "2024-12-09", env=env)
        assert scan.returncode == 2
        assert scan.stderr.splitlines() == [
            line for line in scan.stderr.splitlines() if line.startswith("dailystats: ")
        ]
        assert "lacks SELECT on table" in scan.stderr and len(scan.stderr.splitlines()) == 1

        # status only reads: what PostgreSQL refused is named, in one line.
        status = run_cli("status", env=env)
        assert status.returncode == 2
        (line,) = status.stderr.splitlines()
        assert line.startswith("dailystats: the database refused: permission denied for table")


async def test_with_the_grant_file_the_daemon_role_lacks_nothing(empty_db_url: str) -> None:
    async with bot_database_with_roles(empty_db_url) as roles:
        assert run_cli("migrate", env={"DATABASE_URL": roles.owner_url}).returncode == 0
        await grant_daemon(roles)
        env = {"DATABASE_URL": roles.daemon_url}
        # Up to date, migrate needs no owner: the unit's ExecStartPre runs it as the daemon.
        again = run_cli("migrate", "--json", env=env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == {"applied": []}
        scan = run_cli("scan", "--date", "2024-12-09", "--json", env=env)
        assert scan.returncode == 0, scan.stderr
        assert json.loads(scan.stdout)["scans"][0]["status"] == "succeeded"
