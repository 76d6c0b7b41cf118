"""Bookkeeping for resumable downloads: which [start, end) ranges of a symbol are fetched and stored.

Call :func:`mark_fetched` on the same connection (same transaction) as the
:func:`~tradingmodel.store.ingest_bars` that stored the range's bars, so a crash can never mark a range
whose bars are missing::

    with write_transaction(engine) as conn:  # engine.begin(), with SQLite's write lock taken up front
        ingest_bars(conn, bars, timeframe="1m")
        mark_fetched(conn, "AAPL", "1m", start, end)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, select

from tradingmodel.store.bars import TimeLike, _rows
from tradingmodel.store.ingest import write_transaction
from tradingmodel.store.schema import FetchProgress, utcnow
from tradingmodel.store.sql import insert_ignore
from tradingmodel.store.types import StoreError, parse_timeframe, to_utc


def mark_fetched(engine: Engine | Connection, symbol: str, timeframe: str, start: TimeLike, end: TimeLike) -> None:
    """Record that bars of ``symbol`` in [start, end) are stored (idempotent)."""
    tf, _ = parse_timeframe(timeframe)
    lo, hi = to_utc(start, name="start"), to_utc(end, name="end")
    if hi <= lo:
        raise StoreError(f"fetched range end {hi.isoformat()} is not after its start {lo.isoformat()}")
    with write_transaction(engine) as conn:
        conn.execute(
            insert_ignore(conn, FetchProgress.__table__).values(
                symbol=symbol.strip().upper(), timeframe=tf, range_start=lo, range_end=hi, completed_at=utcnow()
            )
        )


def fetched_ranges(engine: Engine | Connection, symbol: str, timeframe: str) -> list[tuple[datetime, datetime]]:
    """The fetched [start, end) ranges of ``symbol``, sorted, with overlapping or touching ones merged."""
    tf, _ = parse_timeframe(timeframe)
    rows = _rows(
        engine,
        select(FetchProgress.range_start, FetchProgress.range_end)
        .where(FetchProgress.symbol == symbol.strip().upper(), FetchProgress.timeframe == tf)
        .order_by(FetchProgress.range_start, FetchProgress.range_end),
    )
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in rows:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
