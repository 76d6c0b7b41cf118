"""Stored bars for the API: keyset-paginated pages with indicators, and the latest bars before a prediction.

Indicators (SMA20, EMA20, RSI14, 20-bar mean volume, 20-bar return stdev) are computed on the page plus
up to :data:`LOOKBACK_BARS` stored bars before it, so a page's values do not depend on where it starts:
EMA and Wilder's RSI forget their seed geometrically ((19/21)^300 ≈ 1e-13, (13/14)^300 ≈ 2e-10), so
they equal a whole-history computation to well below a price tick once that much history exists.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from tradingmodel.data.columns import STORED_BAR_COLUMNS
from tradingmodel.features import feature_arrays
from tradingmodel.features.batch import ALL_NAMES, COMPUTED_NAMES
from tradingmodel.services.errors import Invalid, NotFound
from tradingmodel.services.inputs import regular_session
from tradingmodel.store import StoreError, bar_coverage, parse_timeframe
from tradingmodel.store.schema import MarketData
from tradingmodel.store.types import to_utc

LOOKBACK_BARS = 300
MAX_PAGE_BARS = 10_000
MAX_RANGE = timedelta(days=366 * 10)
INDICATOR_NAMES: tuple[str, ...] = COMPUTED_NAMES  # sma20, ema20, rsi14, volume_sma20, ret_std20
_COLS = STORED_BAR_COLUMNS[1:]  # no symbol: one symbol per query


@dataclass
class BarPage:
    """One page of bars (oldest first) and the cursor of the next page (``None`` on the last one)."""

    symbol: str
    timeframe: str
    bars: pd.DataFrame  # _COLS + INDICATOR_NAMES; NaN where a value is missing or still warming up
    next_cursor: str | None


def encode_cursor(ts: datetime) -> str:
    """An opaque cursor: the last returned bar's start time (microseconds since the epoch), base64."""
    us = int(ts.timestamp() * 1_000_000) if ts.tzinfo else int(ts.replace(tzinfo=UTC).timestamp() * 1e6)
    return base64.urlsafe_b64encode(str(us).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> datetime:
    """The bar time a cursor points after; :class:`Invalid` for anything not made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        us = int(raw)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    except (binascii.Error, ValueError, UnicodeDecodeError, OverflowError):
        raise Invalid(f"cursor {cursor!r} is not a cursor returned by this API") from None


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (naive = UTC) or ``None``; :class:`Invalid` naming ``name`` otherwise."""
    if value is None:
        return None
    try:
        return to_utc(value, name=name)
    except (StoreError, ValueError, OverflowError):
        raise Invalid(f"{name}: cannot parse {value!r} as an ISO 8601 date/time") from None


def check_timeframe(timeframe: str) -> str:
    """The canonical timeframe (``"1m"``); :class:`Invalid` for a bad one."""
    try:
        return parse_timeframe(timeframe)[0]
    except StoreError as e:
        raise Invalid(str(e)) from None


def check_range(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """``start``/``end`` parsed; :class:`Invalid` when the range is empty or longer than :data:`MAX_RANGE`."""
    lo, hi = parse_time(start, "start"), parse_time(end, "end")
    if lo is not None and hi is not None:
        if hi <= lo:
            raise Invalid(f"empty range: end ({end}) is not after start ({start})")
        if hi - lo > MAX_RANGE:
            raise Invalid(f"range too long: at most {MAX_RANGE.days} days per request")
    return lo, hi


def _require_symbol(engine: Engine, symbol: str, tf: str) -> str:
    sym = symbol.strip().upper()
    if not sym or len(sym) > 32 or bar_coverage(engine, sym, tf) is None:
        raise NotFound(f"unknown symbol {symbol!r}: no {tf} bars stored")
    return sym


def _select(engine: Engine, sym: str, tf: str, where: list[Any], order_desc: bool, limit: int) -> pd.DataFrame:
    m = MarketData
    cols = [getattr(m, c) for c in _COLS]
    stmt = select(*cols).where(m.symbol == sym, m.timeframe == tf, *where)
    stmt = stmt.order_by(m.timestamp.desc() if order_desc else m.timestamp).limit(limit)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(stmt).all()]  # plain tuples: pandas probes Row objects per row
    if order_desc:
        rows = rows[::-1]
    frame = pd.DataFrame.from_records(rows, columns=list(_COLS))
    for c in _COLS[1:]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def with_indicators(frame: pd.DataFrame, lookback: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the indicator columns, computed over ``lookback`` (older bars) followed by ``frame``."""
    out = frame.copy()
    both = pd.concat([lookback, frame], ignore_index=True) if len(lookback) else frame
    feats = (
        feature_arrays(both["close"].to_numpy(), both["volume"].to_numpy())
        if len(both)
        else np.empty((0, len(ALL_NAMES)))
    )
    tail = feats[len(both) - len(frame) :]
    for name in INDICATOR_NAMES:
        out[name] = tail[:, ALL_NAMES.index(name)]
    return out


def bar_page(
    engine: Engine,
    symbol: str,
    *,
    timeframe: str = "1m",
    start: str | None = None,
    end: str | None = None,
    limit: int = 1000,
    cursor: str | None = None,
) -> BarPage:
    """Bars of ``symbol`` with ``start <= timestamp < end``, ``limit`` per page, after ``cursor``.

    Raises :class:`NotFound` for a symbol without bars, :class:`Invalid` for a bad timeframe, time, range,
    limit or cursor."""
    tf = check_timeframe(timeframe)
    if not 1 <= limit <= MAX_PAGE_BARS:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE_BARS}, got {limit}")
    lo, hi = check_range(start, end)
    sym = _require_symbol(engine, symbol, tf)
    m = MarketData
    where: list[Any] = []
    if lo is not None:
        where.append(m.timestamp >= lo)
    if hi is not None:
        where.append(m.timestamp < hi)
    if cursor is not None:
        where.append(m.timestamp > decode_cursor(cursor))
    page = _select(engine, sym, tf, where, False, limit + 1)
    more = len(page) > limit
    page = page.iloc[:limit]
    lookback = (
        _select(engine, sym, tf, [m.timestamp < page["timestamp"].iloc[0].to_pydatetime()], True, LOOKBACK_BARS)
        if len(page)
        else page
    )
    nxt = encode_cursor(page["timestamp"].iloc[-1].to_pydatetime()) if more else None
    return BarPage(sym, tf, with_indicators(page, lookback), nxt)


def latest_bars(engine: Engine, symbol: str, n: int, *, timeframe: str = "1m") -> pd.DataFrame:
    """The last ``n`` stored regular-hours bars of ``symbol`` in the bars convention (with ``symbol``)."""
    tf = check_timeframe(timeframe)
    sym = _require_symbol(engine, symbol, tf)
    frame = _select(engine, sym, tf, [], True, n)
    frame.insert(0, "symbol", sym)
    return regular_session(frame)
