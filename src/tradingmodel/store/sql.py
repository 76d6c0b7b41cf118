"""Dialect-specific statement helpers (upserts) and JSON clean-up."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {conn.dialect.name!r} (use SQLite or PostgreSQL)")


def insert_ignore(conn: Connection, table: Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for this connection's dialect."""
    return _insert(conn, table).on_conflict_do_nothing()


def upsert(conn: Connection, table: Table, keys: Sequence[str], update: Sequence[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET col = excluded.col`` for the ``update`` columns."""
    stmt = _insert(conn, table)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})


_PLAIN = (str, int, bool, type(None))


def json_safe(value: Any) -> Any:
    """Make metrics storable as JSON(B): NaN/inf → None, numpy scalars → Python, tuples → lists.

    Called on every event of every slice: plain values are dispatched on their exact type first (a
    float is finite when ``v - v == 0``), the general checks only run for the rest."""
    t = type(value)
    if t is float:
        return value if value - value == 0.0 else None
    if t in _PLAIN:
        return value
    if t is dict:
        return {k if type(k) is str else str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
