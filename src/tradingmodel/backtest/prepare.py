"""Input checks and array layout for the backtest: bars + features + predictions -> ``mkt[t, s, k]``.

All symbols share one sorted time axis (the union of their timestamps); a symbol without a bar at
a time has NaN there and is skipped by the strategy step at that time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradingmodel.data import validate_bars
from tradingmodel.data.sessions import last_bar_of_session, new_york_dates
from tradingmodel.features import compute_features
from tradingmodel.strategy import layout as L

PRED_REQUIRED = ("symbol", "timestamp", "predicted_close")
SESSION_SECONDS = 6.5 * 3600
TRADING_DAYS = 252


@dataclass
class Prepared:
    """Arrays the compiled loop reads, plus what is needed to turn its logs back into frames."""

    symbols: list[str]
    times: pd.DatetimeIndex  # the common time axis, UTC
    mkt: np.ndarray  # (T, n_symbols, L.NK) float64
    days: np.ndarray  # (T,) int64 New York session date of each time
    bars_per_year: float


def _utc(ts: pd.Series, what: str) -> pd.Series:
    """Timestamps as tz-aware UTC (naive values are taken as UTC)."""
    try:
        out = pd.to_datetime(ts)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{what}: timestamp column is not parseable as dates: {e}") from None
    if out.dt.tz is None:
        out = out.dt.tz_localize("UTC")
    return out.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _ns(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC epoch nanoseconds of tz-aware timestamps (no per-element Python objects)."""
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    a = np.sort(a, kind="stable")
    keep = np.ones(a.size, dtype=bool)
    keep[1:] = a[1:] != a[:-1]
    return a[keep]


def _bars_per_year_ns(axis: np.ndarray) -> float:
    if axis.size < 2:
        return TRADING_DAYS * SESSION_SECONDS / 60.0
    spacing = float(np.median(np.diff(axis))) / 1e9
    if spacing < SESSION_SECONDS:
        return TRADING_DAYS * SESSION_SECONDS / spacing
    return TRADING_DAYS * 86400.0 / spacing


def infer_bars_per_year(times: pd.DatetimeIndex | pd.Series) -> float:
    """Bars per year from the median spacing: 390 x 252 for minute bars, 252 for daily bars.

    Intraday spacing is counted within a 6.5-hour session (overnight gaps do not count); spacing of
    a day or more is counted on 252 trading days. One bar only: minute bars are assumed.
    """
    idx = pd.DatetimeIndex(times)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return _bars_per_year_ns(_sorted_unique(_ns(idx)))


@dataclass
class _Checked:
    frame: pd.DataFrame  # sorted by (symbol, timestamp), RangeIndex, UTC timestamps
    codes: np.ndarray  # int64 symbol code per row (index into symbols)
    symbols: list[str]  # sorted
    ts: np.ndarray  # int64 UTC ns per row


def _check(bars: pd.DataFrame) -> _Checked:
    """The bars through :func:`~tradingmodel.data.validate_bars` (the project's one bar check: prices,
    volume, OHLC consistency, duplicates; an unsorted frame is sorted with a warning), then coded by
    symbol with UTC nanosecond times. Inconsistent OHLC matters here: a stop or target would fill at
    a price the bar never traded."""
    out = validate_bars(bars, "bars")
    if len(out) == 0:
        raise ValueError("bars: no rows")
    out["timestamp"] = out["timestamp"].astype("datetime64[ns, UTC]")
    codes, uniques = pd.factorize(out["symbol"], sort=True)
    return _Checked(
        frame=out, codes=codes.astype(np.int64), symbols=[str(u) for u in uniques], ts=_ns(out["timestamp"])
    )


def check_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Validate the bars frame (columns, values, order); return it sorted with UTC timestamps."""
    return _check(bars).frame


def _align(bars: _Checked, predictions: pd.DataFrame, source: str) -> np.ndarray:
    missing = [c for c in PRED_REQUIRED if c not in predictions.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)} (need {', '.join(PRED_REQUIRED)})")
    # rows are named by the frame's index labels: read_predictions numbers a file's data rows from 1 (as
    # bar files are), a frame made in code keeps its own index, and rows filtered out keep their numbers
    labels = np.asarray(predictions.index)
    pred = predictions.reset_index(drop=True)
    values = pd.to_numeric(pred["predicted_close"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{source}: row {labels[i]}: predicted_close = {str(pred['predicted_close'].iat[i])} "
            "is not a positive number"
        )
    syms = pred["symbol"].astype(str).str.strip().str.upper()  # as validate_bars spells the bars' symbols
    pcodes = pd.Index(bars.symbols).get_indexer(syms).astype(np.int64)
    if (pcodes < 0).any():
        i = int(np.argmax(pcodes < 0))
        raise ValueError(
            f"{source}: row {labels[i]}: symbol {syms.iat[i]!r} is not in the bars "
            f"(bars have {', '.join(bars.symbols)})"
        )
    pts = _ns(_utc(pred["timestamp"], source))
    pos = np.full(len(pred), -1, dtype=np.int64)
    order = np.argsort(pcodes, kind="stable")
    sym_range = np.arange(len(bars.symbols) + 1)
    pbounds = np.searchsorted(pcodes[order], sym_range)
    bbounds = np.searchsorted(bars.codes, sym_range)
    for c in range(len(bars.symbols)):
        rows = order[pbounds[c] : pbounds[c + 1]]
        seg = bars.ts[bbounds[c] : bbounds[c + 1]]
        if rows.size == 0 or seg.size == 0:
            continue
        j = np.searchsorted(seg, pts[rows])
        hit = seg[np.minimum(j, seg.size - 1)] == pts[rows]
        pos[rows[hit]] = bbounds[c] + j[hit]
    if (pos < 0).any():
        i = int(np.argmax(pos < 0))
        raise ValueError(
            f"{source}: row {labels[i]}: no {syms.iat[i]} bar at {pd.Timestamp(pts[i], tz='UTC')} "
            "(each prediction's timestamp must be the bar it was made after)"
        )
    if pos.size and np.bincount(pos, minlength=len(bars.frame)).max() > 1:
        i = int(np.argmax(pd.Series(pos).duplicated().to_numpy()))
        raise ValueError(
            f"{source}: row {labels[i]}: second prediction for {syms.iat[i]} at {pd.Timestamp(pts[i], tz='UTC')}"
        )
    out = np.full(len(bars.frame), np.nan)
    out[pos] = values
    return out


def align_predictions(bars: pd.DataFrame, predictions: pd.DataFrame, source: str = "predictions") -> np.ndarray:
    """Predicted close for each row of ``check_bars(bars)`` (NaN where none was given).

    Errors name ``source`` and the first offending row of ``predictions`` (by its index label): a missing column, an
    unknown symbol, a timestamp that is not one of that symbol's bars, a duplicate, a NaN or
    non-positive value.
    """
    return _align(_check(bars), predictions, source)


def prepare(bars: pd.DataFrame, predictions: pd.DataFrame, source: str = "predictions") -> Prepared:
    """Check inputs, compute features, and lay everything out on the common time axis."""
    chk = _check(bars)
    pred = _align(chk, predictions, source)
    frame = chk.frame
    # order and duplicates are checked above, so the features need no timestamp column
    feats = compute_features(frame[["symbol", "close", "volume"]])
    axis = chk.ts if len(chk.symbols) == 1 else _sorted_unique(chk.ts)
    t_idx = np.searchsorted(axis, chk.ts)
    times = pd.DatetimeIndex(axis.view("datetime64[ns]")).tz_localize("UTC")
    days = new_york_dates(times).astype(np.int64)
    # the NYSE calendar's last bar of each session (early closes end it at 13:00), per symbol
    session_last = last_bar_of_session(frame["timestamp"])
    session_last[:-1] |= chk.codes[1:] != chk.codes[:-1]
    mkt = np.full((axis.size, len(chk.symbols), L.NK), np.nan)
    columns = {
        L.K_OPEN: frame["open"],
        L.K_HIGH: frame["high"],
        L.K_LOW: frame["low"],
        L.K_CLOSE: frame["close"],
        L.K_VOLUME: frame["volume"],
        L.K_VOLAVG: feats["volume_sma20"],
        L.K_RSI: feats["rsi14"],
        L.K_RETSTD: feats["ret_std20"],
    }
    for k, col in columns.items():
        mkt[t_idx, chk.codes, k] = col.to_numpy(dtype=np.float64)
    mkt[t_idx, chk.codes, L.K_PRED] = pred
    mkt[t_idx, chk.codes, L.K_SESSION_LAST] = session_last
    return Prepared(symbols=chk.symbols, times=times, mkt=mkt, days=days, bars_per_year=_bars_per_year_ns(axis))
