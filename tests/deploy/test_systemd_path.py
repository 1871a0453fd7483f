"""The README's systemd path, run line by line: a fresh wheel in a scratch venv, the
unit's settings file from the example, two database roles (the owner migrates; the
daemon's role has only deploy/postgres/grant_daemon.sql's privileges), then what the
unit runs (its ExecStartPre and ExecStart, its Environment= and EnvironmentFile=) and
the one-shot commands of "Common tasks" reading the unit's file. Last, the README's
uninstall SQL leaves nothing of the daemon.

Without root, each line runs with these stand-ins (and nothing else changed): `sudo` runs
the command as the test's user, `useradd` and `systemctl` do nothing (the test runs the
unit's commands itself), `install -g` drops the group, `sudoedit` fills in DATABASE_URL,
paths under /opt, /etc are under a scratch folder, the lock's packages come from the
test environment (offline), and `/usr/bin/python3` is the test's Python.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.deploy.roles import Roles, bot_database_with_roles
from tests.run.daemon_logs import Daemon, free_port
from tests.scan.scan_reference import Completion, insert_completions, insert_tasks

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
pytestmark = pytest.mark.slow

STAND_INS = r"""
set -euo pipefail
sudo() { if [ "$1" = -u ]; then shift 2; fi; "$@"; }
useradd() { :; }
systemctl() { :; }
install() {
  local a=()
  while [ $# -gt 0 ]; do case "$1" in -g) shift 2 ;; *) a+=("$1"); shift ;; esac; done
  command install "${a[@]}"
}
sudoedit() { sed -i "s|^DATABASE_URL=.*|DATABASE_URL=$DAEMON_URL|" "$1"; }
"""


def readme_block(heading: str, fence: str = "```sh") -> str:
    start = README.index(fence + "\n", README.index(heading)) + len(fence) + 1
    return README[start : README.index("```", start)]


class Host:
    """The scratch machine: its folders and how a README line runs on it."""

    def __init__(self, tmp: Path, roles: Roles, admin_url: str) -> None:
        self.tmp = tmp
        self.roles = roles
        admin = urlsplit(admin_url)
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp),
            "REPOSITORY": str(ROOT),
            "OWNER_URL": roles.owner_url,
            "DAEMON_URL": roles.daemon_url,
            # `sudo -u postgres psql`: the administrator's connection.
            "PGHOST": admin.hostname or "127.0.0.1",
            "PGPORT": str(admin.port or 5432),
            "PGUSER": admin.username or "postgres",
            "PGDATABASE": "postgres",
        }

    def path(self, text: str) -> str:
        for top in ("/opt/dailystats", "/etc/dailystats", "/etc/systemd/system"):
            text = text.replace(top, f"{self.tmp}{top}")
        return text

    def translate(self, line: str) -> str:
        line = self.path(line)
        venv = f"{self.tmp}/opt/dailystats/venv"
        if "--require-hashes" in line:  # offline: the test environment's packages
            purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
            site = f'$({venv}/bin/python -c "{purelib}")'
            return f'echo {shlex.quote(sysconfig.get_path("purelib"))} > "{site}/deps.pth"'
        line = line.replace("/usr/bin/python3 -m venv", f"{shlex.quote(sys.executable)} -m venv")
        line = line.replace("CREATE ROLE dailystats ", f"CREATE ROLE {self.roles.daemon} ")
        return line.replace("role=dailystats", f"role={self.roles.daemon}")

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        for top in ("opt", "etc/systemd/system"):
            (self.tmp / top).mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            ["bash", "-c", STAND_INS + self.translate(line)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.tmp,
            timeout=600,
            check=False,
        )

    def overlay_working_tree(self) -> None:
        """The clone has the last commit; bring the working tree's changes too (the code
        under test, committed or not)."""
        files = (
            subprocess.run(
                ["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .split("\0")
        )
        src = self.tmp / "opt/dailystats/src"
        for name in filter(None, files):
            if (ROOT / name).is_file():
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, src / name)


def unit_environment(host: Host) -> tuple[dict[str, str], list[str], list[str]]:
    """What systemd would give the unit's processes, and its ExecStartPre and ExecStart."""
    unit = host.path((host.tmp / "etc/systemd/system/dailystats.service").read_text())
    env = {"PATH": os.environ["PATH"]}
    (env_file,) = re.findall(r"(?m)^EnvironmentFile=(.+)$", unit)
    for line in Path(env_file).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] == '"':  # systemd drops the quotes
                value = value[1:-1]
            env[key] = value
    env.update(dict(re.findall(r"(?m)^Environment=(\w+)=(.*)$", unit)))
    (pre,) = re.findall(r"(?m)^ExecStartPre=(.+)$", unit)
    (start,) = re.findall(r"(?m)^ExecStart=(.+)$", unit)
    return env, shlex.split(pre), shlex.split(start)


async def _bot_data(owner_url: str) -> None:
    conn = await asyncpg.connect(owner_url)
    try:
        await insert_tasks(conn, [1])  # no callback: saved, not sent
        await insert_completions(
            conn,
            [
                Completion(
                    1,
                    1,
                    7,
                    "submitted",
                    "YouTube",
                    "https://youtu.be/dQw4w9WgXcQ",
                    datetime(2024, 12, 9, 10),
                    {"view_count": 1200, "like_count": 80},
                )
            ],
        )
    finally:
        await conn.close()


async def test_the_readme_systemd_path_with_a_least_privilege_role(
    tmp_path: Path, empty_db_url: str, pg_admin_url: str
) -> None:
    async with bot_database_with_roles(empty_db_url, create_daemon=False) as roles:
        host = Host(tmp_path, roles, pg_admin_url)
        for line in readme_block("### systemd").splitlines():
            if not line.strip():
                continue
            done = await asyncio.to_thread(host.run, line)
            assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
            if " git clone " in line:
                host.overlay_working_tree()
        await _bot_data(roles.owner_url)

        # What systemd runs: ExecStartPre (migrate, nothing pending: as the daemon's role),
        # then the daemon, with the unit's environment only.
        env, pre, start = unit_environment(host)
        assert env["DATABASE_URL"] == roles.daemon_url
        migrate = await asyncio.to_thread(
            subprocess.run, pre, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert migrate.returncode == 0, migrate.stderr
        env["HEALTH_PORT"] = str(free_port())  # a drop-in's Environment=: 8080 may be taken
        process = await asyncio.create_subprocess_exec(
            *start, env=env, stderr=asyncio.subprocess.PIPE
        )
        daemon = Daemon(process)
        try:
            await daemon.wait_for("service.ready", within=60)
            # The start-up catch-up scans its days as the daemon's role, writing its tables.
            await daemon.wait_for("scan.finished", times=3, within=120, status="succeeded")
        finally:
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 60)
            await daemon.reader
        assert code == 0
        assert not [e for e in daemon.events if e.get("level") in ("error", "critical")]
        assert not any(e.get("logger", "").startswith("apscheduler") for e in daemon.events)

        # Common tasks: one-shot commands with the unit's settings file, nothing else.
        dailystats = str(tmp_path / "opt/dailystats/venv/bin/dailystats")
        unit_file = env["DAILYSTATS_ENV_FILE"]
        shell = {"PATH": os.environ["PATH"]}

        def command(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [dailystats, *args, "--env-file", unit_file],
                capture_output=True,
                text=True,
                env=shell,
                cwd=tmp_path,
                timeout=120,
                check=False,
            )

        scan = await asyncio.to_thread(command, "scan", "--date", "2024-12-09")
        assert scan.returncode == 0, scan.stderr
        status = await asyncio.to_thread(command, "status")
        assert status.returncode == 0, status.stderr
        assert "2024-12-09" in status.stdout and "succeeded" in status.stdout
        explain = await asyncio.to_thread(command, "explain", "--task", "1", "--date", "2024-12-09")
        assert explain.returncode == 0, explain.stderr
        assert explain.stdout.startswith("task 1 (X2C task 1001")
        assert "saved: 1200 views, 80 likes" in explain.stdout
        version = await asyncio.to_thread(
            subprocess.run, [dailystats, "--version"], capture_output=True, text=True, check=True
        )
        assert re.fullmatch(r"dailystats \d+\.\d+\.\d+\S*\n", version.stdout)
        assert version.stdout != "dailystats 0.0.0\n"  # the clone's git gave it a version

        # The README's uninstall, as the owner: nothing of the daemon is left.
        conn = await asyncpg.connect(roles.owner_url)
        try:
            await conn.execute(readme_block("To uninstall", "```sql"))
            left = await conn.fetch(
                "SELECT relname FROM pg_class WHERE relname LIKE 'dailystats%'"
                " OR relname LIKE 'task_daily_stats%'"
                " UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE 'dailystats%'"
                " UNION ALL SELECT attname FROM pg_attribute"
                " WHERE attrelid = 'users'::regclass AND attname = 'agent_node'"
            )
            assert left == []
        finally:
            await conn.close()
