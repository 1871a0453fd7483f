"""The scan of one stats date and its steps (spec sections 2 and 3): the day's lock
(``daylock``), the scan itself top to bottom (``day``), short links and the stats no
completion saved (``livestats``, ``video_cache``), and the run's report (``report``).
Its SQL is ``queries.sql`` beside it.

Imports: settings, rules, store, fetch. The webhook outbox is handed in (``Enqueue``),
so a scan never imports the sender.
"""
