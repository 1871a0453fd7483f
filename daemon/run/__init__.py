"""Running the pipeline: the wiring of settings into scans and delivery passes
(``pipeline``, used by the commands and the daemon alike) and the long-running process
(``service``) with its parts: the nightly job (``scheduler``), the queue of owed days
(``scanqueue``, ``lookback``), ``retention``, ``/healthz`` and ``/metrics`` (``health``,
``metrics``), systemd's notify protocol and the watchdog's idea of alive (``notify``,
``liveness``), and the process's logging (``logs``).

Imports: every package below (settings, rules, store, fetch, webhook, scan, settle).
"""
