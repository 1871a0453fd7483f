"""Every runtime query lives in a ``queries.sql`` beside the code that runs it: one file
a package (``daemon/scan/queries.sql``, ``daemon/webhook/queries.sql``, ...), each query
under a ``-- name: <name> --`` header.

They are loaded once into one dict and called by name, so the SQL can be read, reviewed
and EXPLAINed in one place per capability (the procrastinate way). Names are unique
across all the files.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*) --\s*$", re.MULTILINE)
FILE_NAME = "queries.sql"


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file into {name: sql}; a duplicate name is an error."""
    queries: dict[str, str] = {}
    parts = _HEADER.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


def query_files() -> list[Traversable]:
    """Each package's ``queries.sql``, in package order (read as package data, so an
    installed wheel finds them as a checkout does)."""
    root = resources.files("daemon")
    found = [p / FILE_NAME for p in root.iterdir() if p.is_dir() and (p / FILE_NAME).is_file()]
    return sorted(found, key=lambda p: str(p))


def load_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in query_files():
        for name, sql in parse_queries(path.read_text(encoding="utf-8")).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice ({path})")
            queries[name] = sql
    return queries


QUERIES: dict[str, str] = load_queries()
