"""Every runtime query lives in ``sql/queries.sql`` under a ``-- name: <name> --`` header.

They are loaded once into a dict and called by name, so the SQL can be read, reviewed
and EXPLAINed in one place (the procrastinate way).
"""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*) --\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file into {name: sql}; a duplicate name is an error."""
    queries: dict[str, str] = {}
    parts = _HEADER.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


def load_queries() -> dict[str, str]:
    text = resources.files("daemon").joinpath("sql/queries.sql").read_text(encoding="utf-8")
    return parse_queries(text)


QUERIES: dict[str, str] = load_queries()
