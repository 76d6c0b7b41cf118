"""Market simulator: deterministic one-minute bars with the stylised facts of real minute data.

Log return of symbol i in bar t (``docs/data.md`` lists every parameter)::

    r[i,t] = gap[i,t] + u[t] * (beta[i] * s_m * sqrt(hm[t]) * zm[t] + s_i * sqrt(hi[i,t]) * zi[i,t])
             + signal * K * (sma20[i,t-1] - close[i,t-1]) / close[i,t-1]

``zm, zi`` are unit-variance Student-t shocks (fat tails), ``hm, hi`` GARCH(1,1) variances with unit
mean (volatility clustering), ``u`` the U-shaped intraday volatility profile, ``beta * s_m * zm`` the
common market factor. The last term is the planted, learnable pull towards the 20-bar average.
``null=True`` drops clustering, the intraday profile and the signal: iid increments with the same
average variance, i.e. a pure (geometric) random walk.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numba
import numpy as np
import pandas as pd

from tradingmodel.data.sessions import BARS_PER_SESSION, TIMESTAMP_DTYPE, session_schedule

# --- parameters (documented in docs/data.md) ---------------------------------------------------
MARKET_VOL = 0.00045          # per-bar stdev of the market factor (log return)
IDIO_VOL = (0.00045, 0.00075)  # per-symbol idiosyncratic per-bar stdev, uniform range
BETA = (0.7, 1.3)             # per-symbol market beta, uniform range
START_PRICE = (20.0, 300.0)   # per-symbol first open, log-uniform range
T_DOF = 4.0                   # Student-t degrees of freedom of the shocks
GARCH_ALPHA = 0.06            # GARCH(1,1) reaction
GARCH_BETA = 0.92             # GARCH(1,1) persistence (alpha + beta < 1)
SIGNAL_K = 0.12               # mean-reversion strength at signal=1 (fraction of the SMA gap per bar)
SMA_WINDOW = 20               # the planted signal uses the same 20-bar SMA as the features
GAP_INTRADAY = 0.05           # stdev of the open-vs-previous-close gap, in units of the bar's stdev
GAP_OVERNIGHT = 0.004         # stdev of the overnight gap at each session's first bar (log)
HL_SCALE = 0.6                # high/low extend beyond open/close by |N(0,1)| * HL_SCALE * bar stdev
VOLUME_BASE = (5_000.0, 60_000.0)  # per-symbol mean shares per minute, log-uniform range
VOLUME_NOISE = 0.45           # lognormal stdev of volume noise
TRADE_SIZE = 120.0            # mean shares per transaction


def _u_shape(first: float, last: float, tau_open: float, tau_close: float) -> np.ndarray:
    m = np.arange(BARS_PER_SESSION, dtype=np.float64)
    return 1.0 + first * np.exp(-m / tau_open) + last * np.exp(-(BARS_PER_SESSION - 1 - m) / tau_close)


def intraday_vol_profile() -> np.ndarray:
    """Volatility multiplier per minute of the session, mean square 1 (so it keeps the average vol)."""
    u = _u_shape(1.2, 0.5, 30.0, 30.0)
    return u / np.sqrt(np.mean(u * u))


def intraday_volume_profile() -> np.ndarray:
    """Volume multiplier per minute of the session, mean 1: high at the open, higher at the close."""
    u = _u_shape(2.5, 2.0, 25.0, 15.0)
    return u / u.mean()


@numba.njit(cache=True)
def _paths(zm, zi, gap, u, beta, s_m, s_i, logp0, alpha, persist, garch, k):  # pragma: no cover - jit
    """Sequential part: GARCH variances, planted signal and log prices. Returns log open, log close, sd."""
    n, s_count = zi.shape
    log_open = np.empty((n, s_count))
    log_close = np.empty((n, s_count))
    sd = np.empty((n, s_count))
    omega = 1.0 - alpha - persist
    hm = 1.0
    hi = np.ones(s_count)
    ring = np.zeros((SMA_WINDOW, s_count))
    total = np.zeros(s_count)
    prev = logp0.copy()
    for t in range(n):
        if garch and t > 0:
            hm = omega + alpha * hm * zm[t - 1] * zm[t - 1] + persist * hm
        em = s_m * np.sqrt(hm) * zm[t]
        slot = t % SMA_WINDOW
        for j in range(s_count):
            if garch and t > 0:
                hi[j] = omega + alpha * hi[j] * zi[t - 1, j] * zi[t - 1, j] + persist * hi[j]
            sig_i = s_i[j] * np.sqrt(hi[j])
            bar_sd = u[t] * np.sqrt(beta[j] * beta[j] * s_m * s_m * hm + sig_i * sig_i)
            drift = 0.0
            if k != 0.0 and t >= SMA_WINDOW:
                c = np.exp(prev[j])
                drift = k * (total[j] / SMA_WINDOW - c) / c
            lo = prev[j] + gap[t, j] * (bar_sd if t % BARS_PER_SESSION != 0 else 1.0)
            lc = lo + u[t] * (beta[j] * em + sig_i * zi[t, j]) + drift
            log_open[t, j] = lo
            log_close[t, j] = lc
            sd[t, j] = bar_sd
            c_new = np.exp(lc)
            total[j] += c_new - ring[slot, j]
            ring[slot, j] = c_new
            prev[j] = lc
    return log_open, log_close, sd


def _student_t(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.standard_t(T_DOF, size) * np.sqrt((T_DOF - 2.0) / T_DOF)


def _symbol_rng(seed: int, symbol: str) -> np.random.Generator:
    # Per-symbol stream: a symbol's idiosyncratic draws do not depend on which other symbols are asked for.
    return np.random.default_rng([seed, 1, zlib.crc32(symbol.encode())])


def simulate(symbols: Sequence[str], days: int, *, seed: int = 7, signal: float = 0.0, null: bool = False,
             start: str = "2024-01-02") -> pd.DataFrame:
    """Simulated one-minute bars of ``days`` NYSE sessions from ``start``, sorted by (symbol, timestamp).

    Deterministic for (symbols, days, seed, signal, null, start). ``signal`` in [0, 1] scales the
    planted mean reversion; ``null`` gives a pure random walk (no signal, no clustering). Sessions
    follow the exchange calendar: no bars on holidays, 390 bars per full session and 210 on an early
    close (the path is drawn for a full session and cut at 13:00, so a day's first 210 bars do not
    depend on whether it closes early). Timestamps are UTC bar starts (09:30 New York → 14:30/13:30 UTC).
    """
    syms = [str(s).strip().upper() for s in symbols]
    if not syms or any(not s for s in syms):
        raise ValueError("simulate: give at least one non-empty symbol")
    if len(set(syms)) != len(syms):
        raise ValueError(f"simulate: duplicate symbols in {syms}")
    if int(days) != days or days < 1:
        raise ValueError(f"simulate: days must be a positive integer, got {days!r}")
    if not 0.0 <= float(signal) <= 1.0:
        raise ValueError(f"simulate: signal must be between 0 and 1, got {signal!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"simulate: seed must be a non-negative integer, got {seed!r}")
    if null and signal:
        raise ValueError("simulate: null mode has no signal; pass signal=0 with null=True")
    syms = sorted(syms)
    days = int(days)
    sched = session_schedule(start, days)
    opens = pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8
    grid = (opens[:, None] + np.arange(BARS_PER_SESSION, dtype=np.int64)[None, :] * 60_000_000_000).ravel()
    in_session = grid < np.repeat(pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8, BARS_PER_SESSION)
    ts = pd.DatetimeIndex(grid).tz_localize("UTC")
    n, s_count = len(ts), len(syms)
    first_bar = (np.arange(n) % BARS_PER_SESSION) == 0

    mrng = np.random.default_rng([seed, 0])
    zm = _student_t(mrng, n)
    market_gap = mrng.standard_normal(days) * GAP_OVERNIGHT * 0.6

    zi = np.empty((n, s_count))
    gap = np.empty((n, s_count))
    hl = np.empty((2, n, s_count))
    vol_noise = np.empty((n, s_count))
    trade_noise = np.empty((n, s_count))
    beta = np.empty(s_count)
    s_i = np.empty(s_count)
    logp0 = np.empty(s_count)
    vbase = np.empty(s_count)
    for j, sym in enumerate(syms):
        r = _symbol_rng(seed, sym)
        beta[j] = r.uniform(*BETA)
        s_i[j] = r.uniform(*IDIO_VOL)
        logp0[j] = r.uniform(np.log(START_PRICE[0]), np.log(START_PRICE[1]))
        vbase[j] = np.exp(r.uniform(np.log(VOLUME_BASE[0]), np.log(VOLUME_BASE[1])))
        zi[:, j] = _student_t(r, n)
        g = r.standard_normal(n) * GAP_INTRADAY
        g[first_bar] = beta[j] * market_gap + r.standard_normal(days) * GAP_OVERNIGHT * 0.8
        gap[:, j] = g
        hl[:, :, j] = np.abs(r.standard_normal((2, n)))
        vol_noise[:, j] = r.standard_normal(n)
        trade_noise[:, j] = r.standard_normal(n)

    u = np.ones(n) if null else np.tile(intraday_vol_profile(), days)
    k = 0.0 if null else float(signal) * SIGNAL_K
    log_open, log_close, sd = _paths(zm, zi, gap, u, beta, MARKET_VOL, s_i, logp0,
                                     GARCH_ALPHA, GARCH_BETA, not null, k)

    open_ = np.exp(log_open)
    close = np.exp(log_close)
    high = np.maximum(open_, close) * np.exp(hl[0] * HL_SCALE * sd)
    low = np.minimum(open_, close) * np.exp(-hl[1] * HL_SCALE * sd)
    # Volume: U-shaped profile, more shares when the bar moves more than usual, lognormal noise.
    vprof = np.tile(intraday_volume_profile(), days)[:, None]
    move = np.abs(log_close - log_open) / sd
    volume = vbase[None, :] * vprof * (0.6 + 0.5 * move) * np.exp(VOLUME_NOISE * vol_noise - VOLUME_NOISE**2 / 2)
    volume = np.maximum(np.rint(volume), 1.0)
    vwap = np.clip((high + low + 2.0 * close) / 4.0, low, high)
    transactions = np.maximum(np.rint(volume / (TRADE_SIZE * np.exp(0.3 * trade_noise))), 1.0)

    def col(a: np.ndarray) -> np.ndarray:
        return a[in_session].T.reshape(-1)  # symbol-major: (symbol, timestamp) order

    kept = int(in_session.sum())
    return pd.DataFrame({
        "symbol": pd.array(np.repeat(np.array(syms, dtype=object), kept), dtype="str"),
        "timestamp": pd.DatetimeIndex(np.tile(ts[in_session].tz_convert(None).values, s_count)).tz_localize(
            "UTC").astype(TIMESTAMP_DTYPE),
        "open": col(open_), "high": col(high), "low": col(low), "close": col(close),
        "volume": col(volume), "vwap": col(vwap), "transactions": col(transactions),
    })
