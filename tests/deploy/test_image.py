"""The Docker image built and run for real.

There is no container engine on the build machine; ``../shared/tools/container-image``
builds the Dockerfile with buildah on a Debian stand-in for ``python:3.11-slim``, and
processes run in the image share the host's network (so its PostgreSQL). The test runs
the image's own CMD, user and HEALTHCHECK as a container engine would.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import BOT_SCHEMA
from tests.run.daemon_logs import LogLines, free_port

ROOT = Path(__file__).resolve().parents[2]
BUILDAH = ["buildah", "--storage-driver", "vfs"]
pytestmark = pytest.mark.slow


def _tool() -> Path | None:
    configured = os.environ.get("DAILYSTATS_CONTAINER_IMAGE_TOOL")
    if configured:
        return Path(configured)
    # ../shared beside a checkout (CI), or beside the folder of worktrees.
    for base in (ROOT.parent, ROOT.parent.parent):
        candidate = base / "shared" / "tools" / "container-image"
        if candidate.is_file():
            return candidate
    return None


def _skip_reason() -> str | None:
    if _tool() is None:
        return "../shared/tools/container-image is absent (a clone without ../shared)"
    if not (ROOT / "requirements" / "runtime.lock").is_file():
        return "requirements/runtime.lock (issue 9's lock file) is absent"
    if shutil.which("buildah") is None and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        return "buildah is not installed and cannot be (needs root and apt-get)"
    return None


@pytest.fixture(scope="module")
def image() -> Iterator[dict[str, Any]]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tag = f"localhost/dailystats:test-{os.getpid()}"
    built = subprocess.run(
        [str(_tool()), str(ROOT), tag], capture_output=True, text=True, timeout=1200, check=False
    )
    if built.returncode != 0 and shutil.which("buildah") is None:
        pytest.skip(f"buildah cannot be installed here: {built.stderr[-500:]}")
    assert built.returncode == 0, built.stdout + built.stderr
    inspected = subprocess.run(
        [*BUILDAH, "inspect", "--type", "image", tag], capture_output=True, text=True, check=True
    )
    config = json.loads(inspected.stdout)["Docker"]["config"]
    try:
        yield {"tag": tag, "config": config}
    finally:
        subprocess.run([*BUILDAH, "rmi", "-f", tag], capture_output=True, check=False)


@pytest.fixture
def container(image: dict[str, Any]) -> Iterator[str]:
    made = subprocess.run(
        [*BUILDAH, "from", image["tag"]], capture_output=True, text=True, check=True
    )
    name = made.stdout.strip()
    try:
        yield name
    finally:
        subprocess.run([*BUILDAH, "rm", name], capture_output=True, check=False)


def _run_in(container: str, *argv: str, env: dict[str, str] | None = None) -> list[str]:
    """``buildah run`` as the image's own USER (buildah's default)."""
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    return [*BUILDAH, "run", "--isolation", "chroot", *flags, container, "--", *argv]


def test_image_runs_as_a_user_that_cannot_write_its_code(
    image: dict[str, Any], container: str
) -> None:
    assert image["config"]["User"] == "dailystats"
    probe = (
        "import json, os, pathlib, daemon, daemon.store.migrations as m\n"
        "code = pathlib.Path(daemon.__file__).parent\n"
        "def writable(p):\n"
        "    try:\n"
        "        (p / 'probe').write_text('x')\n"
        "    except OSError:\n"
        "        return False\n"
        "    return True\n"
        "print(json.dumps({'uid': os.getuid(), 'code': str(code),\n"
        "    'writable': [str(p) for p in (code, code.parent, code / 'migrations_sql')\n"
        "                 if writable(p)],\n"
        "    'migrations': str(m.default_dir()),\n"
        "    'n': len(m.read_migrations())}))\n"
    )
    result = subprocess.run(
        _run_in(container, "python", "-c", probe), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["uid"] != 0
    assert found["writable"] == []
    # A normal install: site-packages, with the migrations carried in the wheel.
    assert "/site-packages/daemon" in found["code"]
    assert found["migrations"].endswith("/site-packages/daemon/migrations_sql")
    assert found["n"] == len(list((ROOT / "migrations").glob("*.sql")))


def _daemon_pid(ancestor: int) -> int | None:
    """The ``dailystats run`` process under ``buildah run`` (which does not forward
    signals): processes in the image share the host's process table."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    todo = [ancestor]
    while todo:
        pid = todo.pop()
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            argv = []
        # python /opt/dailystats/venv/bin/dailystats run (after the shell's exec)
        if argv[1:3] == [b"/opt/dailystats/venv/bin/dailystats", b"run"]:
            return pid
        todo.extend(children.get(pid, []))
    return None


async def test_image_migrates_serves_health_scans_on_sighup_and_stops_on_sigterm(
    image: dict[str, Any], container: str, empty_db_url: str
) -> None:
    if "host=/" in empty_db_url:
        pytest.skip("the test PostgreSQL is on a Unix socket the image cannot reach")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute(BOT_SCHEMA)
    finally:
        await conn.close()
    port = free_port()
    env = {"DATABASE_URL": empty_db_url, "HEALTH_PORT": str(port), "CATCHUP_DAYS": "0"}
    # The image's CMD as the engine would run it: migrate, then exec the daemon.
    process = await asyncio.create_subprocess_exec(
        *_run_in(container, *image["config"]["Cmd"], env=env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    logs = LogLines(process.stderr)
    try:
        await logs.wait_for_event("service.ready", 120)
        conn = await asyncpg.connect(empty_db_url)
        try:
            applied = await conn.fetchval("SELECT count(*) FROM dailystats_migrations")
        finally:
            await conn.close()
        assert applied == len(list((ROOT / "migrations").glob("*.sql")))

        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
        # The image's own HEALTHCHECK, run beside the daemon, reads HEALTH_PORT.
        check = image["config"]["Healthcheck"]["Test"]
        assert check[0] == "CMD"
        probe = await asyncio.create_subprocess_exec(*_run_in(container, *check[1:], env=env))
        assert await asyncio.wait_for(probe.wait(), 60) == 0
        wrong = await asyncio.create_subprocess_exec(
            *_run_in(container, *check[1:], env=env | {"HEALTH_PORT": str(free_port())}),
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(wrong.wait(), 60) != 0

        pid = _daemon_pid(process.pid)
        assert pid is not None
        os.kill(pid, signal.SIGHUP)
        await logs.wait_for_event("scan.finished", 60, trigger="sighup")
        os.kill(pid, signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        await logs.task
    finally:
        if process.returncode is None:
            pid = _daemon_pid(process.pid)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            process.kill()
            await process.wait()
        logs.task.cancel()
    assert logs.seen("service.stopped")
    # JSON logs, as the image sets LOG_FORMAT=json: not one plain line from the daemon.
    assert logs.plain == []
