"""Settlement: what finance and X2C are told about numbers already computed. ``explain``
(where each number of one task's day came from, and the node it falls to), ``report``
(the stored and last delivered numbers of a range) and ``audit`` (the numbers recomputed
from the bot's data now, against what was delivered). The split by agent node itself is
written by the scan (``daemon/scan/queries.sql``, "node split"). Reads; never fetches,
never writes a persistent row.

Imports: settings, rules, store, fetch, webhook, scan.
"""
