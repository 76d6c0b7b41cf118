"""Idempotent, atomic bar ingestion with a bulk path per dialect.

Each batch is written in one transaction: either all its bars are stored or none. Re-loading the same
bars changes nothing (``unchanged``); a bar whose values differ from the stored one replaces it
(``updated``). Two write paths per dialect:

* **fresh** — no stored bar falls inside the batch's per-symbol time span: the rows go straight into
  ``market_data`` (PostgreSQL: binary ``COPY`` built with numpy; SQLite: ``executemany``).
* **merge** — otherwise: the rows go to a temporary staging table (PostgreSQL: binary ``COPY``), then one
  ``INSERT … ON CONFLICT DO UPDATE … WHERE <values differ>`` (PostgreSQL) or ``UPDATE … FROM`` + ``INSERT …
  WHERE NOT EXISTS`` (SQLite) applies them and counts inserted/updated rows.

On PostgreSQL a concurrent importer can store overlapping bars between the check and the ``COPY``; the
fresh path then fails with a unique violation inside a savepoint and the batch is retried on the merge
path. On SQLite writers take the lock up front (``BEGIN IMMEDIATE``), so the check cannot go stale.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from tradingmodel.store import _pg, _sqlite
from tradingmodel.store.sql import json_safe
from tradingmodel.store.types import StoreError, parse_timeframe

MAX_SYMBOL_LEN = 32


@dataclass(frozen=True)
class IngestStats:
    """What one :func:`ingest_bars` call did. ``rows == inserted + updated + unchanged``."""

    rows: int
    inserted: int
    updated: int
    unchanged: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Batch:
    """Column arrays of a slice of bars, ready for the dialect writers (nulls: NaN / -1)."""

    symbols: list[str]  # distinct symbols, in order; ``codes`` index into it
    codes: np.ndarray  # int32
    ts_us: np.ndarray  # int64, microseconds since the Unix epoch (UTC)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # int64
    vwap: np.ndarray  # float64, NaN = NULL
    transactions: np.ndarray  # int64, -1 = NULL
    indicators: list[str | None] | None  # JSON text per row, or None when the input has no indicators

    def __len__(self) -> int:
        return len(self.ts_us)

    def slice(self, start: int, stop: int) -> Batch:
        """Rows [start, stop) with the symbol list narrowed to the ones present."""
        codes = self.codes[start:stop]
        present = np.unique(codes)
        remap = np.full(len(self.symbols), -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        return Batch(
            [self.symbols[i] for i in present],
            remap[codes],
            *(
                getattr(self, k)[start:stop]
                for k in ("ts_us", "open", "high", "low", "close", "volume", "vwap", "transactions")
            ),
            None if self.indicators is None else self.indicators[start:stop],
        )

    def groups(self) -> list[tuple[str, np.ndarray]]:
        """(symbol, row indices) per symbol, in O(n log n) however many symbols there are."""
        order = np.argsort(self.codes, kind="stable")
        bounds = np.searchsorted(self.codes[order], np.arange(len(self.symbols) + 1))
        return [(sym, order[bounds[k] : bounds[k + 1]]) for k, sym in enumerate(self.symbols)]

    def spans(self) -> list[tuple[str, int, int]]:
        """(symbol, first ts_us, last ts_us) per symbol in this batch."""
        return [(sym, int(self.ts_us[rows].min()), int(self.ts_us[rows].max())) for sym, rows in self.groups()]


def _validate(bars: pd.DataFrame, source: str) -> pd.DataFrame:
    """The data package's canonical, checked bars; an ``indicators`` column is carried over."""
    from tradingmodel.data import validate_bars  # the data package owns the bar schema

    if "indicators" not in bars.columns:
        return validate_bars(bars, source)
    # validate_bars keeps only bar columns and may reorder rows; with indicators we need the input order.
    checked = validate_bars(bars, source, sort=False)
    checked["indicators"] = bars["indicators"].to_numpy(dtype=object)
    return checked


def _json_cell(value: Any, row: int, source: str) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise StoreError(f"{source}: row {row}: indicators is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise StoreError(f"{source}: row {row}: indicators must be a JSON object (dict), got {type(value).__name__}")
    # NaN/inf (also nested) → null, numpy scalars → numbers; compact, sorted text compares equal when equal
    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def prepare_batch(bars: pd.DataFrame, source: str = "<data>") -> Batch:
    """Convert a validated bars DataFrame to column arrays, checking what the schema needs.

    Errors name the 1-based row (as :mod:`tradingmodel.data` does) and the reason.
    """
    n = len(bars)
    sym = bars["symbol"].astype(str)
    too_long = np.flatnonzero(sym.str.len().to_numpy() > MAX_SYMBOL_LEN)
    if too_long.size:
        r = int(too_long[0])
        raise StoreError(f"{source}: row {r + 1}: symbol {sym.iloc[r]!r} is longer than {MAX_SYMBOL_LEN} characters")
    codes, uniques = pd.factorize(sym, sort=False)
    ts = pd.DatetimeIndex(bars["timestamp"])
    if ts.tz is None:
        raise StoreError(f"{source}: column timestamp: time zone missing (expected tz-aware UTC)")
    ts_us = ts.tz_convert("UTC").as_unit("us").asi8.copy()

    def floats(col: str) -> np.ndarray:
        return bars[col].to_numpy(dtype=np.float64, na_value=np.nan) if col in bars else np.full(n, np.nan)

    vol = floats("volume")
    bad = np.flatnonzero(~np.isfinite(vol) | (vol < 0) | (vol >= 2.0**63))
    if bad.size:
        r = int(bad[0])
        raise StoreError(f"{source}: row {r + 1}: volume {float(vol[r])!r} cannot be stored as a non-negative BIGINT")
    tr = floats("transactions")
    bad = np.flatnonzero(np.isfinite(tr) & ((tr < 0) | (tr >= 2.0**63)) | np.isinf(tr))
    if bad.size:
        r = int(bad[0])
        raise StoreError(
            f"{source}: row {r + 1}: transactions {float(tr[r])!r} cannot be stored as a non-negative BIGINT"
        )
    tr_int = np.where(np.isnan(tr), -1, np.rint(np.nan_to_num(tr, nan=-1.0))).astype(np.int64)
    indicators = None
    if "indicators" in bars:
        indicators = [_json_cell(v, i, source) for i, v in enumerate(bars["indicators"].tolist(), start=1)]
    return Batch(
        symbols=[str(s) for s in uniques],
        codes=codes.astype(np.int32),
        ts_us=ts_us,
        open=floats("open"),
        high=floats("high"),
        low=floats("low"),
        close=floats("close"),
        volume=np.rint(vol).astype(np.int64),
        vwap=floats("vwap"),
        transactions=tr_int,
        indicators=indicators,
    )


@contextmanager
def write_transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection in a write transaction: a new one committed on success, or the caller's connection
    as is (the caller commits). SQLite writers take the write lock at BEGIN (``BEGIN IMMEDIATE``)."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def _write_batch(conn: Connection, batch: Batch, timeframe: str) -> tuple[int, int]:
    if conn.dialect.name == "postgresql":
        return _pg.write_batch(conn, batch, timeframe)
    if conn.dialect.name == "sqlite":
        return _sqlite.write_batch(conn, batch, timeframe)
    raise StoreError(f"unsupported database dialect {conn.dialect.name!r} (use SQLite or PostgreSQL)")


def _progress(total: int, enabled: bool) -> AbstractContextManager[Any]:
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("importing bars"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def ingest_bars(
    engine: Engine | Connection,
    bars: pd.DataFrame,
    *,
    timeframe: str = "1m",
    batch_size: int = 50_000,
    progress: bool = False,
    source: str = "<data>",
) -> IngestStats:
    """Store ``bars`` (the bars convention, validated first) idempotently, one transaction per batch.

    ``engine`` may be a :class:`~sqlalchemy.Connection` inside the caller's transaction: then every batch
    joins that transaction (so e.g. :func:`~tradingmodel.store.mark_fetched` commits or fails with them).
    An optional ``indicators`` column of dicts (or JSON strings) is stored as JSON(B); without it, a bar
    whose values change loses its old indicators (they were computed from the old values); input with
    indicators must already be sorted by (symbol, timestamp). ``source`` names the input in errors.
    """
    if batch_size <= 0:
        raise StoreError(f"batch_size must be positive, got {batch_size}")
    tf, _ = parse_timeframe(timeframe)
    start = time.perf_counter()
    data = prepare_batch(_validate(bars, source), source)
    inserted = updated = 0
    with _progress(len(data), progress) as bar:
        task = bar.add_task("bars", total=len(data)) if bar is not None else None
        for lo in range(0, len(data), batch_size):
            batch = data.slice(lo, min(lo + batch_size, len(data)))
            with write_transaction(engine) as conn:
                ins, upd = _write_batch(conn, batch, tf)
            inserted, updated = inserted + ins, updated + upd
            if bar is not None:
                bar.advance(task, len(batch))
    n = len(data)
    return IngestStats(n, inserted, updated, n - inserted - updated, time.perf_counter() - start)
