"""A normal (non-editable) install finds its migrations: the wheel carries them."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import BOT_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
# What a build needs (the Dockerfile copies the same).
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "daemon", "migrations")
pytestmark = pytest.mark.slow


def _run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=True, **kwargs
    )  # type: ignore[call-overload]


def _copy_sources(tmp: Path) -> Path:
    # A copy of the sources (no git metadata, as the image's build stage has), so the
    # checkout gets no build/ folder.
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "migrations_sql")
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, src / name)
    return src


def _build_wheel(tmp: Path, src: Path | None = None) -> Path:
    src = src or _copy_sources(tmp)
    dist = tmp / "dist"
    # Build isolation fetches setuptools from the configured index (a local one here).
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src)
    (wheel,) = dist.glob("dailystats-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path) -> tuple[Path, Path]:
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
    )
    # The runtime dependencies from the test venv, offline. A plain path line: its .pth
    # files (the test venv's editable dailystats) are not run, only its libraries seen.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheel,
    )
    return venv, site


async def test_wheel_installed_in_a_fresh_venv_migrates_a_scratch_database(
    tmp_path: Path, empty_db_url: str
) -> None:
    wheel = await asyncio.to_thread(_build_wheel, tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        carried = sorted(
            Path(n).name for n in archive.namelist() if n.startswith("daemon/migrations_sql/")
        )
    assert carried == sorted(p.name for p in (ROOT / "migrations").glob("*.sql"))
    venv, site = await asyncio.to_thread(_fresh_venv, tmp_path, wheel)

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MIGRATIONS_DIR"}}
    env["DATABASE_URL"] = empty_db_url
    # cwd: a folder without migrations/, as on a server.
    where = await asyncio.to_thread(
        _run,
        venv / "bin" / "python",
        "-c",
        "import daemon.store.migrations as m; print(m.default_dir())",
        cwd=tmp_path,
        env=env,
    )
    assert where.stdout.strip() == str(site / "daemon" / "migrations_sql")

    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute(BOT_SCHEMA)
        await asyncio.to_thread(_run, venv / "bin" / "dailystats", "migrate", cwd=tmp_path, env=env)
        applied = [r["name"] for r in await conn.fetch("SELECT name FROM dailystats_migrations")]
    finally:
        await conn.close()
    assert sorted(applied) == carried


async def test_a_rebuild_carries_no_module_removed_since_and_says_its_version(
    tmp_path: Path,
) -> None:
    # pip builds a source tree in place, reusing its build/: a module removed upstream
    # must not ride along into the new wheel.
    src = await asyncio.to_thread(_copy_sources, tmp_path)
    stale = src / "build" / "lib" / "daemon" / "removed_upstream.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("raise SystemExit('old code')\n")
    wheel = await asyncio.to_thread(_build_wheel, tmp_path, src)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "daemon/removed_upstream.py" not in names
    assert "daemon/cli/__init__.py" in names
    # No git metadata in the copy: the fallback version, said plainly.
    assert wheel.name.startswith("dailystats-0.0.0-")
