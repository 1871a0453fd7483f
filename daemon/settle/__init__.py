"""Settlement: what finance and X2C are told about numbers already computed. Today
``explain`` (where each number of one task's day came from); the report, the audit and
the split by agent node belong here too. Reads what the scan stored; never fetches.

Imports: settings, rules, store, fetch, webhook, scan.
"""
