"""``python -m daemon`` and the ``dailystats`` script.

``run``'s first act is its SIGHUP handler (daemon.run.hangup), before the heavy
imports: a reload at any moment of the daemon's life never ends it.
"""

from __future__ import annotations

import sys


def main() -> int:
    if sys.argv[1:2] == ["run"]:
        from daemon.run.hangup import HANGUPS

        HANGUPS.install()
    from daemon.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
