"""The spec's pure rules, no IO: which stats date a moment belongs to (``dates``), a
link's platform, video id and short-link key (``links``), what may be shown of an error,
a URL or a secret (``redact``), how long a ``Retry-After`` asks to wait
(``retry_after``), and the counts of a task and day (``counts``).

Imports: only ``daemon.settings`` (for types). Everything else may import these.
"""
