"""PostgreSQL bulk paths: binary COPY in and out, encoded and decoded with numpy.

Writing: the COPY stream is assembled as numpy structured arrays (one fixed-width layout per symbol and
null pattern), so no Python object is created per row; timestamps travel as PostgreSQL's native
``timestamptz`` (microseconds since 2000-01-01 UTC); symbols as UTF-8 text (a UTF8 server encoding is
assumed, PostgreSQL's default). Existing bars go through a staging table and ``INSERT … ON CONFLICT``, which
counts inserted rows with the usual ``xmax = 0`` test. Reading: :func:`read_symbol`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from sqlalchemy import Connection

if TYPE_CHECKING:
    from tradingmodel.store.ingest import Batch

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
COPY_TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
STAGE = "_tm_stage_bars"
VALUE_COLS = ("open", "high", "low", "close", "volume", "vwap", "transactions")


def _binary_rows(fields: list[tuple[str, str, np.ndarray | bytes | None]], n: int) -> bytes:
    """Encode ``n`` rows of fixed-width fields: (name, numpy big-endian dtype, values | constant | None=NULL)."""
    dtype: list[tuple[str, str]] = [("_n", ">i2")]
    for name, kind, value in fields:
        dtype.append((f"{name}_len", ">i4"))
        if value is not None:
            dtype.append((name, kind))
    arr = np.empty(n, dtype=dtype)
    arr["_n"] = len(fields)
    for name, kind, value in fields:
        if value is None:
            arr[f"{name}_len"] = -1
        else:
            arr[f"{name}_len"] = np.dtype(kind).itemsize
            arr[name] = value
    return arr.tobytes()


def _null_groups(batch: Batch, rows: np.ndarray) -> list[tuple[np.ndarray, bool, bool]]:
    """Split row indices by which of vwap / transactions are NULL (each group has a fixed width)."""
    vnull = np.isnan(batch.vwap[rows])
    tnull = batch.transactions[rows] < 0
    out = []
    for vn in (False, True):
        for tn in (False, True):
            sel = rows[(vnull == vn) & (tnull == tn)]
            if sel.size:
                out.append((sel, vn, tn))
    return out


def _market_data_copy(batch: Batch, timeframe: str) -> bytes:
    """Binary COPY rows for ``market_data (symbol, timeframe, timestamp, open … transactions)``."""
    parts = [COPY_HEADER]
    tf = timeframe.encode()
    for symbol, symbol_rows in batch.groups():
        sym = symbol.encode()
        for rows, vn, tn in _null_groups(batch, symbol_rows):
            fields: list[tuple[str, str, Any]] = [
                ("symbol", f"S{len(sym)}", sym),
                ("timeframe", f"S{len(tf)}", tf),
                ("timestamp", ">i8", batch.ts_us[rows] - PG_EPOCH_US),
                *((c, ">f8", getattr(batch, c)[rows]) for c in ("open", "high", "low", "close")),
                ("volume", ">i8", batch.volume[rows]),
                ("vwap", ">f8", None if vn else batch.vwap[rows]),
                ("transactions", ">i8", None if tn else batch.transactions[rows]),
            ]
            parts.append(_binary_rows(fields, rows.size))
    parts.append(COPY_TRAILER)
    return b"".join(parts)


def _stage_copy(batch: Batch) -> bytes:
    """Binary COPY rows for the staging table (symbol as a code; NULLs as NaN / -1)."""
    fields: list[tuple[str, str, Any]] = [
        ("sym", ">i4", batch.codes),
        ("ts", ">i8", batch.ts_us - PG_EPOCH_US),
        *((c, ">f8", getattr(batch, c)) for c in ("open", "high", "low", "close")),
        ("volume", ">i8", batch.volume),
        ("vwap", ">f8", batch.vwap),
        ("transactions", ">i8", batch.transactions),
    ]
    return COPY_HEADER + _binary_rows(fields, len(batch)) + COPY_TRAILER


def _overlaps(cur: psycopg.Cursor[Any], batch: Batch, timeframe: str) -> bool:
    """Whether any stored bar lies inside a symbol's [first, last] time span of this batch."""
    spans = batch.spans()
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::int8[], %s::int8[]) AS s(symbol, lo, hi) "
        "JOIN market_data m ON m.symbol = s.symbol AND m.timeframe = %s "
        "AND m.timestamp BETWEEN timestamptz 'epoch' + s.lo * interval '1 microsecond' "
        "AND timestamptz 'epoch' + s.hi * interval '1 microsecond')",
        ([s for s, _, _ in spans], [lo for _, lo, _ in spans], [hi for _, _, hi in spans], timeframe),
    )
    row = cur.fetchone()
    return bool(row and row[0])


def _merge(cur: psycopg.Cursor[Any], batch: Batch, timeframe: str) -> tuple[int, int]:
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (sym int4, ts int8, open float8, high float8, low float8, "
        "close float8, volume int8, vwap float8, transactions int8, indicators text) ON COMMIT DROP"
    )
    cur.execute(f"TRUNCATE {STAGE}")
    if batch.indicators is None:
        with cur.copy(
            f"COPY {STAGE} (sym, ts, open, high, low, close, volume, vwap, transactions) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(_stage_copy(batch))
    else:  # variable-length JSON: let psycopg format the rows
        cols = [
            batch.codes.tolist(),
            (batch.ts_us - PG_EPOCH_US).tolist(),
            *(getattr(batch, c).tolist() for c in VALUE_COLS),
            batch.indicators,
        ]
        with cur.copy(
            f"COPY {STAGE} (sym, ts, open, high, low, close, volume, vwap, transactions, indicators) FROM STDIN"
        ) as copy:
            for row in zip(*cols, strict=True):
                copy.write_row(row)
    compare = list(VALUE_COLS) + (["indicators"] if batch.indicators is not None else [])
    cur.execute(
        "WITH up AS ("
        " INSERT INTO market_data AS m (symbol, timeframe, timestamp, open, high, low, close, volume, vwap,"
        "  transactions, indicators)"
        " SELECT s.symbol, %s, timestamptz '2000-01-01 00:00:00+00' + st.ts * interval '1 microsecond',"
        "  st.open, st.high, st.low, st.close, st.volume, NULLIF(st.vwap, 'NaN'::float8),"
        "  NULLIF(st.transactions, -1), st.indicators::jsonb"
        f" FROM {STAGE} st JOIN unnest(%s::text[]) WITH ORDINALITY AS s(symbol, id) ON s.id = st.sym + 1"
        " ON CONFLICT (symbol, timeframe, timestamp) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in (*VALUE_COLS, "indicators"))
        + " WHERE ("
        + ", ".join(f"m.{c}" for c in compare)
        + ") IS DISTINCT FROM ("
        + ", ".join(f"excluded.{c}" for c in compare)
        + ")"
        " RETURNING (xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FROM up",
        (timeframe, batch.symbols),
    )
    row = cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]) - int(row[0])


def write_batch(conn: Connection, batch: Batch, timeframe: str) -> tuple[int, int]:
    """Write one batch inside ``conn``'s transaction; returns (inserted, updated)."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor() as cur:
        if batch.indicators is None and not _overlaps(cur, batch, timeframe):
            savepoint = conn.begin_nested()
            try:
                with cur.copy(
                    "COPY market_data (symbol, timeframe, timestamp, open, high, low, close, volume,"
                    " vwap, transactions) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.write(_market_data_copy(batch, timeframe))
            except psycopg.errors.UniqueViolation:  # a concurrent import stored some of these bars
                savepoint.rollback()
            else:
                savepoint.commit()
                return len(batch), 0
        return _merge(cur, batch, timeframe)


_READ_FIELDS = ("timestamp", "open", "high", "low", "close", "volume", "vwap", "transactions")
_READ_INTS = ("timestamp", "volume", "transactions")
_READ_DTYPE = np.dtype(
    [("_n", ">i2")] + [x for f in _READ_FIELDS for x in ((f"{f}_len", ">i4"), (f, ">i8" if f in _READ_INTS else ">f8"))]
)


def read_symbol(
    conn: Connection, symbol: str, timeframe: str, start_us: int | None, end_us: int | None, chunk_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    """Read one symbol's bars in chunks of ``chunk_rows``, each one binary ``COPY … TO STDOUT`` decoded with
    numpy (keyset pagination on the primary key, so no statement stays open between chunks and a caller may
    stop at any time). NULLs travel as NaN / -1 so every record has the same width. Yields column arrays:
    ``timestamp`` as Unix microseconds, the rest float64 with NaN where NULL.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    size = _READ_DTYPE.itemsize
    after: int | None = None
    while True:
        where, params = ["symbol = %s", "timeframe = %s"], [symbol, timeframe]
        for op, value in ((">=", start_us), ("<", end_us), (">", after)):
            if value is not None:
                where.append(f"timestamp {op} timestamptz 'epoch' + %s * interval '1 microsecond'")
                params.append(value)
        sql = (
            "COPY (SELECT timestamp, open, high, low, close, volume, COALESCE(vwap, 'NaN'::float8), "
            f"COALESCE(transactions, -1) FROM market_data WHERE {' AND '.join(where)} "
            f"ORDER BY timestamp LIMIT {int(chunk_rows)}) TO STDOUT (FORMAT BINARY)"
        )
        with raw.cursor() as cur, cur.copy(sql, params) as copy:
            data = b"".join(bytes(block) for block in copy)
        body = data[len(COPY_HEADER) : len(data) - len(COPY_TRAILER)]
        if not data.startswith(COPY_HEADER) or not data.endswith(COPY_TRAILER) or len(body) % size:
            raise RuntimeError(f"unexpected binary COPY stream of {len(data)} bytes from PostgreSQL")
        if body:
            cols = _decode(body)
            after = int(cols["timestamp"][-1])
            yield cols
        if len(body) // size < chunk_rows:
            return


def _decode(buf: bytes) -> dict[str, np.ndarray]:
    rec = np.frombuffer(buf, dtype=_READ_DTYPE)
    if (rec["_n"] != len(_READ_FIELDS)).any():
        raise RuntimeError("unexpected binary COPY stream: wrong field count")
    out = {f: rec[f].astype(np.float64) for f in ("open", "high", "low", "close", "volume", "vwap")}
    out["timestamp"] = rec["timestamp"].astype(np.int64) + PG_EPOCH_US
    tr = rec["transactions"].astype(np.int64)
    out["transactions"] = np.where(tr < 0, np.nan, tr.astype(np.float64))
    return out
