"""``dailystats``: the daemon and its operator commands (spec section 8).

One module a group of commands: ``scans`` (migrate, scan, backfill), ``deliveries``
(deliver, replay, resend), ``status`` (status, stops), ``settle`` (explain, report, audit);
``base`` holds what they share, ``main`` the parser and the exit codes.

Imports: everything (the top layer); nothing imports it.
"""

from daemon.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
