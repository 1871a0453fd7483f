"""requirements/runtime.lock: still satisfies pyproject.toml (no network), and installs
with ``--require-hashes`` in a fresh virtualenv (slow, needs the registry)."""

from __future__ import annotations

import os
import subprocess
import tomllib
import urllib.request
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "runtime.lock"
INDEX = "https://pypi.org/simple"
# What the deploys run: CPython 3.11 on Linux, x86_64 (and aarch64) (README "Security").
TARGETS = [
    {
        "python_version": "3.11",
        "python_full_version": "3.11.9",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
        "extra": "",
    }
    for machine in ("x86_64", "aarch64")
]


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    version: Version
    hashes: tuple[str, ...]


def read_lock(text: str) -> dict[str, Pin]:
    """``name==version [; marker] \\`` entries with their ``--hash`` lines."""
    entries: list[str] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if raw[:1].isspace() and entries:
            entries[-1] += " " + line.rstrip("\\").strip()
        else:
            entries.append(line.rstrip("\\").strip())
    pins: dict[str, Pin] = {}
    for entry in entries:
        parts = entry.split()
        hashes = tuple(p.removeprefix("--hash=") for p in parts if p.startswith("--hash="))
        spec = " ".join(p for p in parts if not p.startswith("--hash="))
        req = Requirement(spec)
        (pinned,) = list(req.specifier)
        assert pinned.operator == "==", entry
        pins[canonicalize_name(req.name)] = Pin(req, Version(pinned.version), hashes)
    return pins


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_the_lock_pins_every_runtime_requirement_within_its_range() -> None:
    pins = read_lock(LOCK.read_text())
    for req in runtime_requirements():
        for target in TARGETS:
            if req.marker is not None and not req.marker.evaluate(target):
                continue
            pin = pins.get(canonicalize_name(req.name))
            assert pin is not None, f"{req.name} is not in the lock: run `bash scripts/lock`"
            assert req.specifier.contains(pin.version, prereleases=True), (
                f"lock pins {req.name}=={pin.version}, pyproject wants {req.specifier}: "
                "run `bash scripts/lock`"
            )
            if pin.requirement.marker is not None:
                assert pin.requirement.marker.evaluate(target), f"{req.name} not for {target}"


def test_every_pin_has_hashes_and_nothing_local_is_in_the_lock() -> None:
    text = LOCK.read_text()
    pins = read_lock(text)
    assert len(pins) >= len(runtime_requirements())
    for name, pin in pins.items():
        assert pin.hashes, f"{name} has no hash"
        assert all(h.startswith("sha256:") and len(h) == 71 for h in pin.hashes), name
    for local in ("file:", "/opt/", "--find-links", "--extra-index-url", "-e ", "/work/", "/tmp/"):
        assert local not in text, f"a local path or index is in the lock: {local!r}"


def test_read_lock_catches_a_pin_out_of_range() -> None:
    # The checks above can fail: a lock pinning an aiohttp below the floor is caught.
    pins = read_lock("aiohttp==3.9.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    (aiohttp,) = [r for r in runtime_requirements() if r.name == "aiohttp"]
    assert not aiohttp.specifier.contains(pins["aiohttp"].version)


def _registry_reachable() -> bool:
    try:
        with urllib.request.urlopen(f"{INDEX}/pip/", timeout=10) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.slow
def test_the_lock_installs_with_require_hashes_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    if not _registry_reachable():
        pytest.skip(f"the package registry ({INDEX}) cannot be reached from here")
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    # Only the public index: none of this machine's pip configuration (local wheels,
    # indexes, constraints) may help the install.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_")) or k in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT")
    }
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "--only-binary",
         ":all:", "--index-url", INDEX, "-r", str(LOCK)],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, env=env, check=False
    )
    assert check.returncode == 0, check.stdout
    imports = (
        "import aiohttp, asyncpg, apscheduler, structlog, pydantic_settings, prometheus_client"
    )
    imported = subprocess.run(
        [str(python), "-c", imports], capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
