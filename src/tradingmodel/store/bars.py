"""Reading bars back: DataFrames in the bars convention, streamed in chunks for large ranges."""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, func, select, text

from tradingmodel.data.columns import STORED_BAR_COLUMNS
from tradingmodel.store.schema import MarketData
from tradingmodel.store.types import StoreError, parse_timeframe, to_utc

_COLS = list(STORED_BAR_COLUMNS)
TIMESTAMP_DTYPE = "datetime64[us, UTC]"  # as tradingmodel.data.sessions.TIMESTAMP_DTYPE
TimeLike = datetime | date | str | pd.Timestamp


def _symbols(symbols: str | Iterable[str] | None) -> list[str] | None:
    """Stored symbols are upper case (``validate_bars`` makes them so): ``" aapl"`` finds ``AAPL``."""
    if symbols is None:
        return None
    items = [symbols] if isinstance(symbols, str) else list(symbols)
    out = [str(s).strip().upper() for s in items if str(s).strip()]
    if not out:
        raise StoreError("no symbols given")
    return list(dict.fromkeys(out))


# Symbols sort by code point everywhere (Python's order, SQLite's BINARY, validate_bars), not by the
# PostgreSQL server's collation (en-US ICU puts "ÄBC" before "B").
_CODEPOINT = {"postgresql": ' COLLATE "C"'}


def _query(
    dialect: str, symbols: list[str] | None, start: datetime | None, end: datetime | None, indicators: bool
) -> Any:
    ts = "CAST(EXTRACT(EPOCH FROM timestamp) * 1000000 AS BIGINT)" if dialect == "postgresql" else "timestamp"
    cols = f"symbol, {ts} AS ts, open, high, low, close, volume, vwap, transactions"
    where = ["timeframe = :tf"]
    if symbols is not None:
        where.append("symbol IN :symbols")
    if start is not None:
        where.append("timestamp >= :start")
    if end is not None:
        where.append("timestamp < :end")
    sql = text(
        f"SELECT {cols}{', indicators' if indicators else ''} FROM market_data "
        f"WHERE {' AND '.join(where)} ORDER BY symbol{_CODEPOINT.get(dialect, '')}, timestamp"
    )
    params = [
        bindparam(name, type_=MarketData.timestamp.type)
        for name, value in (("start", start), ("end", end))
        if value is not None
    ]
    if symbols is not None:
        params.append(bindparam("symbols", expanding=True))
    return sql.bindparams(*params)


def _frame(rows: Sequence[Any], dialect: str, indicators: bool) -> pd.DataFrame:
    names = [*_COLS, "indicators"] if indicators else _COLS
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    data: dict[str, Any] = {"symbol": pd.array(cols[0], dtype="str")}
    if dialect == "postgresql":
        data["timestamp"] = pd.to_datetime(np.asarray(cols[1], dtype=np.int64), unit="us", utc=True)
    else:
        data["timestamp"] = pd.to_datetime(pd.Series(cols[1], dtype="str"), format="%Y-%m-%d %H:%M:%S.%f", utc=True)
    for i, name in enumerate(("open", "high", "low", "close", "volume", "vwap", "transactions"), start=2):
        data[name] = np.array(cols[i], dtype=np.float64)  # None → NaN
    if indicators:
        data["indicators"] = [_json(v) for v in cols[9]]
    frame = pd.DataFrame(data)
    frame["timestamp"] = frame["timestamp"].astype(TIMESTAMP_DTYPE)
    return frame


def _json(value: Any) -> Any:
    if isinstance(value, str):  # SQLite returns the JSON text
        import json

        return json.loads(value)
    return value


def iter_bars(
    engine: Engine | Connection,
    symbols: str | Iterable[str] | None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    timeframe: str = "1m",
    chunk_rows: int = 500_000,
    indicators: bool = False,
) -> Iterator[pd.DataFrame]:
    """Yield the bars of ``symbols`` (``None`` = all) with ``start <= timestamp < end`` in chunks.

    Chunks are consecutive slices of the (symbol, timestamp) order of ``chunk_rows`` rows (the last one
    shorter), streamed from the database (binary ``COPY`` on PostgreSQL, a cursor on SQLite), so memory stays
    bounded for any range. Naive times are UTC.
    """
    if chunk_rows <= 0:
        raise StoreError(f"chunk_rows must be positive, got {chunk_rows}")
    tf, _ = parse_timeframe(timeframe)
    syms = _symbols(symbols)
    lo = to_utc(start, name="start") if start is not None else None
    hi = to_utc(end, name="end") if end is not None else None
    ctx = engine.connect() if isinstance(engine, Engine) else None
    conn = ctx if ctx is not None else engine
    assert isinstance(conn, Connection)
    if conn.dialect.name == "postgresql" and not indicators:
        frames = _pg_frames(conn, syms, tf, lo, hi, chunk_rows)
    elif conn.dialect.name == "sqlite":
        frames = _sqlite_frames(conn, syms, tf, lo, hi, chunk_rows, indicators)
    else:
        frames = _sql_frames(conn, syms, tf, lo, hi, chunk_rows, indicators)
    try:
        yield from _rechunk(frames, chunk_rows)
    finally:  # also when the caller stops early: end the open COPY / cursor before the connection
        frames.close()
        if ctx is not None:
            ctx.close()


_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime | None) -> int | None:
    """Aware datetime → Unix microseconds (exact integer arithmetic)."""
    return None if t is None else (t - _UNIX_EPOCH) // timedelta(microseconds=1)


def _pg_frames(
    conn: Connection, syms: list[str] | None, tf: str, lo: datetime | None, hi: datetime | None, chunk_rows: int
) -> Generator[pd.DataFrame, None, None]:
    from tradingmodel.store._pg import read_symbol

    for symbol in sorted(syms) if syms is not None else list_symbols(conn, tf):
        with closing(read_symbol(conn, symbol, tf, _us(lo), _us(hi), chunk_rows)) as chunks:
            for cols in chunks:
                n = len(cols["timestamp"])
                frame = pd.DataFrame(
                    {
                        **cols,
                        "symbol": pd.array([symbol] * n, dtype="str"),
                        "timestamp": pd.to_datetime(cols["timestamp"], unit="us", utc=True),
                    }
                )
                frame["timestamp"] = frame["timestamp"].astype(TIMESTAMP_DTYPE)
                yield frame[_COLS]


def _sqlite_frames(
    conn: Connection,
    syms: list[str] | None,
    tf: str,
    lo: datetime | None,
    hi: datetime | None,
    chunk_rows: int,
    indicators: bool,
) -> Generator[pd.DataFrame, None, None]:
    """Plain DB-API cursor: SQLite returns the stored UTC strings, parsed in one vectorised call."""
    from tradingmodel.store._sqlite import format_timestamp

    where, params = ["timeframe = ?"], [tf]
    if syms is not None:
        where.append(f"symbol IN ({', '.join('?' * len(syms))})")
        params += syms
    for op, t in ((">=", lo), ("<", hi)):
        if t is not None:
            where.append(f"timestamp {op} ?")
            params.append(format_timestamp(_us(t)))
    cols = "symbol, timestamp, open, high, low, close, volume, vwap, transactions" + (
        ", indicators" if indicators else ""
    )
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(f"SELECT {cols} FROM market_data WHERE {' AND '.join(where)} ORDER BY symbol, timestamp", params)
        while rows := cur.fetchmany(chunk_rows):
            yield _frame(rows, "sqlite", indicators)
    finally:
        cur.close()


def _sql_frames(
    conn: Connection,
    syms: list[str] | None,
    tf: str,
    lo: datetime | None,
    hi: datetime | None,
    chunk_rows: int,
    indicators: bool,
) -> Generator[pd.DataFrame, None, None]:
    dialect = conn.dialect.name
    params: dict[str, Any] = {"tf": tf}
    params.update({k: v for k, v in (("start", lo), ("end", hi)) if v is not None})
    if syms is not None:
        params["symbols"] = syms
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
        _query(dialect, syms, lo, hi, indicators), params
    )
    for rows in result.partitions(chunk_rows):
        yield _frame(rows, dialect, indicators)


def _rechunk(frames: Iterable[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Regroup frames into chunks of exactly ``chunk_rows`` rows (the last one may be shorter)."""
    pending: list[pd.DataFrame] = []
    count = 0
    for frame in frames:
        while len(frame):
            take = frame.iloc[: chunk_rows - count]
            frame = frame.iloc[len(take) :]
            pending.append(take)
            count += len(take)
            if count == chunk_rows:
                yield pending[0].reset_index(drop=True) if len(pending) == 1 else pd.concat(pending, ignore_index=True)
                pending, count = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def load_bars(
    engine: Engine | Connection,
    symbols: str | Iterable[str] | None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    timeframe: str = "1m",
    indicators: bool = False,
) -> pd.DataFrame:
    """All bars of ``symbols`` with ``start <= timestamp < end`` as one DataFrame (bars convention).

    Columns: ``symbol, timestamp (UTC), open, high, low, close, volume, vwap, transactions`` (float64;
    NaN where vwap/transactions were not stored), plus ``indicators`` (dicts) when asked for.
    An empty result is an empty frame with these columns.
    """
    chunks = list(iter_bars(engine, symbols, start, end, timeframe=timeframe, indicators=indicators))
    if not chunks:
        return _frame([], "sqlite", indicators)
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def list_symbols(engine: Engine | Connection, timeframe: str = "1m") -> list[str]:
    """Symbols with at least one stored bar of ``timeframe``, sorted (by code point, whatever the collation)."""
    tf, _ = parse_timeframe(timeframe)
    stmt = select(MarketData.symbol).where(MarketData.timeframe == tf).distinct()
    return sorted(_scalars(engine, stmt))


def bar_coverage(
    engine: Engine | Connection, symbol: str, timeframe: str = "1m"
) -> tuple[datetime, datetime, int] | None:
    """(first bar start, last bar start, number of bars) of ``symbol``, or ``None`` when it has none."""
    tf, _ = parse_timeframe(timeframe)
    stmt = select(func.min(MarketData.timestamp), func.max(MarketData.timestamp), func.count()).where(
        MarketData.symbol == symbol.strip().upper(), MarketData.timeframe == tf
    )
    row = _rows(engine, stmt)[0]
    return None if not row[2] else (row[0], row[1], int(row[2]))


def _rows(engine: Engine | Connection, stmt: Any) -> list[Any]:
    if isinstance(engine, Connection):
        return list(engine.execute(stmt).all())
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


def _scalars(engine: Engine | Connection, stmt: Any) -> list[Any]:
    return [r[0] for r in _rows(engine, stmt)]


_TIME_IN_TEXT = re.compile(r"\d[Tt]\d|:")


def _end_bound(end: TimeLike) -> datetime:
    """An end given as a date (``2024-01-05``, ``2024-1-5``, ``20240105``) includes that whole day; a time
    (``2024-01-05T16:00``) is an exclusive bound."""
    hi = to_utc(end, name="--to")
    if isinstance(end, str):
        is_date = _TIME_IN_TEXT.search(end) is None
    else:
        is_date = isinstance(end, date) and not isinstance(end, datetime)
    return hi + timedelta(days=1) if is_date else hi


def load_bars_checked(
    symbols: str | Iterable[str] | None,
    start: TimeLike | None,
    end: TimeLike | None,
    timeframe: str = "1m",
    url: str | None = None,
) -> pd.DataFrame:
    """Bars for ``--symbols … --from … --to …`` from the database (``url`` or ``DATABASE_URL``).

    ``--to`` given as a date includes that day. Raises :class:`StoreError` (a ``ValueError``) naming the
    unknown symbols, or the symbols without bars in the range together with what is stored for them.
    """
    from tradingmodel.store.engine import get_engine

    engine = get_engine(url)
    tf, _ = parse_timeframe(timeframe)
    lo = to_utc(start, name="--from") if start is not None else None
    hi = _end_bound(end) if end is not None else None
    if lo is not None and hi is not None and hi <= lo:
        raise StoreError(f"empty range: --to ({end}) is not after --from ({start})")
    stored = list_symbols(engine, tf)
    syms = _symbols(symbols) or stored
    if not syms:
        raise StoreError(
            f"the database {engine.url!r} has no {tf} bars: import some first (`tradingmodel import FILE`)"
        )
    unknown = [s for s in syms if s not in set(stored)]
    if unknown:
        listed = ", ".join(stored[:20]) + (" …" if len(stored) > 20 else "") or "none"
        raise StoreError(f"unknown symbol(s) {', '.join(unknown)}: no {tf} bars stored (stored: {listed})")
    bars = load_bars(engine, syms, lo, hi, timeframe=tf)
    missing = [s for s in syms if s not in set(bars["symbol"].unique())]
    if missing:
        spans = []
        for s in missing:
            cov = bar_coverage(engine, s, tf)
            if cov is not None:
                spans.append(f"{s}: {cov[0].isoformat()} … {cov[1].isoformat()} ({cov[2]} bars)")
        raise StoreError(
            f"no {tf} bars for {', '.join(missing)} between {lo.isoformat() if lo else 'the start'}"
            f" and {hi.isoformat() if hi else 'the end'}; stored: {'; '.join(spans)}"
        )
    return bars
