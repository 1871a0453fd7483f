"""The database: the asyncpg pool and the one small manager that runs named queries
(``db``), the loader of every package's ``queries.sql`` (``queries``), the ordered
migrations (``migrations``), the embedded PostgreSQL of the demo and tests
(``embedded``), and the fixture of the bot's schema (``bot_schema.sql``).

Imports: ``daemon.settings`` and ``daemon.rules``. Every package above may import it.
"""
