"""systemd's notify protocol, in the few lines it takes (no dependency).

A state is one datagram of ``KEY=VALUE`` lines sent to the ``AF_UNIX`` socket named by
``$NOTIFY_SOCKET``; a name starting with ``@`` is in the abstract namespace (a leading
NUL byte). ``$WATCHDOG_USEC`` is the watchdog timeout, meant for ``$WATCHDOG_PID`` when
that is set, and the documented ping interval is half of it. Followed: sd_notify(3) and
sd_watchdog_enabled(3), https://www.freedesktop.org/software/systemd/man/sd_notify.html
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("daemon.run.notify")


def socket_address(value: str) -> str | bytes:
    """The address ``$NOTIFY_SOCKET`` names: abstract ('@name') or a filesystem path."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings (half the timeout), or None when not asked for."""
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid):
        return None  # inherited from a parent: the pings are not ours to send
    return int(usec) / 2_000_000


class Notifier:
    """Sends states to the service manager; a no-op when not run under ``Type=notify``."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        target = env.get("NOTIFY_SOCKET", "")
        self.address = socket_address(target) if target else None
        self.watchdog_seconds = watchdog_interval(env, os.getpid())

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, state: str) -> bool:
        """True when the datagram went out. Never raises: the daemon runs on regardless."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(state.encode())
        except OSError as exc:
            log.warning("notify.send_failed", state=state.split("=")[0], error=str(exc))
            return False
        return True
