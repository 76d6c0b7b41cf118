"""SQLite writer: ``executemany`` straight into ``market_data`` for fresh bars, else via a staging table.

Timestamps are written in SQLAlchemy's SQLite DATETIME format (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), so the
ORM, the readers and range comparisons (which are string comparisons on SQLite) all agree.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection

if TYPE_CHECKING:
    from tradingmodel.store.ingest import Batch

STAGE = "_tm_stage_bars"
COLS = (
    "symbol",
    "timeframe",
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "transactions",
    "indicators",
)
VALUES = ("open", "high", "low", "close", "volume", "vwap", "transactions")


def sqlite_timestamps(ts_us: np.ndarray) -> list[str]:
    """Unix microseconds → ``'YYYY-MM-DD HH:MM:SS.ffffff'`` strings (vectorised)."""
    text = np.datetime_as_string(ts_us.astype("datetime64[us]"), unit="us")  # '...T...'
    chars = text.view(np.uint32).reshape(len(text), -1).copy()
    chars[:, 10] = ord(" ")
    return chars.view(f"<U{chars.shape[1]}").ravel().tolist()


def format_timestamp(ts_us: int) -> str:
    return sqlite_timestamps(np.array([ts_us], dtype=np.int64))[0]


def _rows(batch: Batch, timeframe: str) -> list[tuple[Any, ...]]:
    symbols = np.array(batch.symbols, dtype=object)[batch.codes].tolist()
    vwap = np.where(np.isnan(batch.vwap), None, batch.vwap).tolist()
    tr = np.where(batch.transactions < 0, None, batch.transactions).tolist()
    ind = batch.indicators if batch.indicators is not None else [None] * len(batch)
    return list(
        zip(
            symbols,
            [timeframe] * len(batch),
            sqlite_timestamps(batch.ts_us),
            batch.open.tolist(),
            batch.high.tolist(),
            batch.low.tolist(),
            batch.close.tolist(),
            batch.volume.tolist(),
            vwap,
            tr,
            ind,
            strict=True,
        )
    )


def _overlaps(cur: sqlite3.Cursor, batch: Batch, timeframe: str) -> bool:
    for symbol, lo, hi in batch.spans():
        cur.execute(
            "SELECT 1 FROM market_data WHERE symbol = ? AND timeframe = ? AND timestamp BETWEEN ? AND ? LIMIT 1",
            (symbol, timeframe, format_timestamp(lo), format_timestamp(hi)),
        )
        if cur.fetchone() is not None:
            return True
    return False


def write_batch(conn: Connection, batch: Batch, timeframe: str) -> tuple[int, int]:
    """Write one batch inside ``conn``'s transaction; returns (inserted, updated)."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    cur = raw.cursor()
    try:
        rows = _rows(batch, timeframe)
        placeholders = ", ".join("?" * len(COLS))
        if not _overlaps(cur, batch, timeframe):
            cur.executemany(f"INSERT INTO market_data ({', '.join(COLS)}) VALUES ({placeholders})", rows)
            return len(rows), 0
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({', '.join(COLS)})")
        cur.execute(f"DELETE FROM {STAGE}")
        cur.executemany(f"INSERT INTO {STAGE} VALUES ({placeholders})", rows)
        compare = list(VALUES) + (["indicators"] if batch.indicators is not None else [])
        cur.execute(
            "UPDATE market_data AS m SET "
            + ", ".join(f"{c} = s.{c}" for c in (*VALUES, "indicators"))
            + f" FROM {STAGE} AS s WHERE m.symbol = s.symbol AND m.timeframe = s.timeframe"
            " AND m.timestamp = s.timestamp AND (" + " OR ".join(f"m.{c} IS NOT s.{c}" for c in compare) + ")"
        )
        updated = cur.rowcount
        cur.execute(
            f"INSERT INTO market_data ({', '.join(COLS)}) SELECT {', '.join(COLS)} FROM {STAGE} AS s"
            " WHERE NOT EXISTS (SELECT 1 FROM market_data m WHERE m.symbol = s.symbol"
            " AND m.timeframe = s.timeframe AND m.timestamp = s.timestamp)"
        )
        inserted = cur.rowcount
        cur.execute(f"DELETE FROM {STAGE}")
        return inserted, updated
    finally:
        cur.close()
