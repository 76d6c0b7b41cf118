"""Batch features: the five model inputs and two strategy extras, computed with TA-Lib.

Every feature at bar t uses bars ``<= t`` only (causal), so deleting later bars never changes it.
Warm-up rows (not enough history yet) are NaN, never back-filled.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import talib

FEATURE_NAMES: tuple[str, ...] = ("close", "volume", "sma20", "ema20", "rsi14")
"""Model inputs, in the order the model sees them."""

EXTRA_NAMES: tuple[str, ...] = ("volume_sma20", "ret_std20")
"""Strategy-only inputs: 20-bar mean volume; population stdev of the last 20 one-bar close returns."""

ALL_NAMES: tuple[str, ...] = FEATURE_NAMES + EXTRA_NAMES

SMA_PERIOD = 20
EMA_PERIOD = 20
RSI_PERIOD = 14
VOLUME_SMA_PERIOD = 20
RET_STD_PERIOD = 20

WARMUP_BARS: int = max(SMA_PERIOD - 1, EMA_PERIOD - 1, RSI_PERIOD, VOLUME_SMA_PERIOD - 1, RET_STD_PERIOD)
"""Leading rows of a symbol with at least one NaN feature (ret_std20 needs 21 closes → 20 rows)."""

COMPUTED_NAMES: tuple[str, ...] = tuple(n for n in ALL_NAMES if n not in ("close", "volume"))


def _as_float_array(x: np.ndarray | pd.Series, name: str) -> np.ndarray:
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} has a non-finite value at position {i} ({float(a[i])!r}); validate the bars first")
    return a


@numba.njit(cache=True)
def _rolling_pstd(x: np.ndarray, window: int) -> np.ndarray:  # pragma: no cover - jit
    n = x.shape[0]
    out = np.full(n, np.nan)
    for end in range(window - 1, n):
        total = 0.0
        for i in range(end - window + 1, end + 1):
            total += x[i]
        mean = total / window
        ss = 0.0
        for i in range(end - window + 1, end + 1):
            d = x[i] - mean
            ss += d * d
        out[end] = np.sqrt(ss / window)
    return out


def rolling_pstd(x: np.ndarray, window: int) -> np.ndarray:
    """Population (ddof=0) standard deviation of each trailing ``window`` of ``x``; NaN before that.

    Two passes per window (mean, then squared deviations), so it stays exact for tiny returns where
    the one-pass ``E[x²] − E[x]²`` formula (TA-Lib's STDDEV, running sums) loses precision.
    """
    return _rolling_pstd(np.ascontiguousarray(x, dtype=np.float64), int(window))


def feature_arrays(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Features of one symbol's bars, shape ``(n, 7)`` in :data:`ALL_NAMES` order, NaN during warm-up.

    SMA, EMA and RSI come from TA-Lib (EMA seeded with the SMA of its first 20 closes, RSI with
    Wilder's smoothing seeded by the simple mean of the first 14 gains/losses). ``ret_std20`` at
    bar t is the population stdev of the simple returns ``close[i]/close[i-1]-1`` for i in t-19..t.
    """
    c = _as_float_array(close, "close")
    v = _as_float_array(volume, "volume")
    if c.shape != v.shape:
        raise ValueError(f"close and volume differ in length: {c.shape[0]} vs {v.shape[0]}")
    n = c.shape[0]
    out = np.full((n, len(ALL_NAMES)), np.nan)
    out[:, 0] = c
    out[:, 1] = v
    if n == 0:
        return out
    out[:, 2] = talib.SMA(c, timeperiod=SMA_PERIOD)
    out[:, 3] = talib.EMA(c, timeperiod=EMA_PERIOD)
    out[:, 4] = talib.RSI(c, timeperiod=RSI_PERIOD)
    out[:, 5] = talib.SMA(v, timeperiod=VOLUME_SMA_PERIOD)
    if n > 1:
        ret = c[1:] / c[:-1] - 1.0
        out[1:, 6] = rolling_pstd(ret, RET_STD_PERIOD)
    return out


def _symbol_slices(bars: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of each symbol, in row order (works whether or not symbols are contiguous)."""
    codes, _ = pd.factorize(bars["symbol"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, bounds)


def compute_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``bars`` with sma20, ema20, rsi14, volume_sma20, ret_std20 added.

    Computed per symbol (never across symbols), in the row order of each symbol, which must be
    strictly increasing in ``timestamp`` when that column is present.
    """
    missing = [c for c in ("symbol", "close", "volume") if c not in bars.columns]
    if missing:
        raise ValueError(f"compute_features: bars lack column(s) {', '.join(missing)}")
    out = bars.copy()
    n = len(bars)
    values = np.full((n, len(COMPUTED_NAMES)), np.nan)
    if n:
        close = bars["close"].to_numpy(dtype=np.float64)
        volume = bars["volume"].to_numpy(dtype=np.float64)
        ts = pd.DatetimeIndex(bars["timestamp"]).asi8 if "timestamp" in bars.columns else None
        for pos in _symbol_slices(bars):
            if ts is not None and pos.size > 1:
                t = ts[pos]
                bad = np.flatnonzero(t[1:] <= t[:-1])
                if bad.size:
                    row = int(pos[bad[0] + 1])
                    sym = bars["symbol"].iloc[row]
                    raise ValueError(
                        f"compute_features: {sym} timestamps not strictly increasing at row index {row}; "
                        "sort the bars (read_bar_file/validate_bars do)"
                    )
            for name, arr in (("close", close[pos]), ("volume", volume[pos])):
                bad_val = np.flatnonzero(~np.isfinite(arr))
                if bad_val.size:
                    row = int(pos[bad_val[0]])
                    raise ValueError(
                        f"compute_features: {name} is {float(arr[bad_val[0]])!r} at row index {row} "
                        f"({bars['symbol'].iloc[row]}); validate the bars first"
                    )
            values[pos] = feature_arrays(close[pos], volume[pos])[:, 2:]
    for j, name in enumerate(COMPUTED_NAMES):
        out[name] = values[:, j]
    return out
