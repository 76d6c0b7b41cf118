"""Hand-made scenario builder: explicit bars, predictions, RSI and volume averages -> compiled loop.

The scenarios bypass feature computation (RSI and the volume average are given per bar), so every
expected trade and cash figure in the tests can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tradingmodel.backtest.engine import run_prepared
from tradingmodel.backtest.prepare import Prepared
from tradingmodel.backtest.result import BacktestResult, build_result
from tradingmodel.config import TradingConfig
from tradingmodel.strategy import layout as L

# Defaults for scenarios: no costs, no session flattening, no cooldown, so each test turns on
# only the rule it is about.
BASE = {
    "slippage_bps": 0.0,
    "commission_per_share": 0.0,
    "flatten_at_close": False,
    "cooldown_bars": 0,
    "max_holding_bars": 100,
}
START = pd.Timestamp("2024-01-02 14:30", tz="UTC")


def build_prep(
    ohlc: dict[str, Sequence[tuple[float, float, float, float]]],
    preds: dict[str, dict[int, float]] | None = None,
    *,
    rsi: float = 50.0,
    volume: float = 1000.0,
    volavg: float = 500.0,
    retstd: float = 0.001,
    session_last: Sequence[int] = (),
    days: Sequence[int] | None = None,
    overrides: dict[tuple[str, int, int], float] | None = None,
) -> Prepared:
    """Bars per symbol on a common minute axis; ``overrides[(symbol, t, K_*)] = value``."""
    symbols = sorted(ohlc)
    n_t = max(len(v) for v in ohlc.values())
    mkt = np.full((n_t, len(symbols), L.NK), np.nan)
    for s, sym in enumerate(symbols):
        rows = np.asarray(ohlc[sym], dtype=float)
        k = rows.shape[0]
        mkt[:k, s, L.K_OPEN : L.K_CLOSE + 1] = rows
        mkt[:k, s, L.K_VOLUME] = volume
        mkt[:k, s, L.K_VOLAVG] = volavg
        mkt[:k, s, L.K_RSI] = rsi
        mkt[:k, s, L.K_RETSTD] = retstd
        mkt[:k, s, L.K_SESSION_LAST] = 0.0
        for t in session_last:
            mkt[t, s, L.K_SESSION_LAST] = 1.0
        for t, value in (preds or {}).get(sym, {}).items():
            mkt[t, s, L.K_PRED] = value
    for (sym, t, k), value in (overrides or {}).items():
        mkt[t, symbols.index(sym), k] = value
    times = pd.DatetimeIndex([START + pd.Timedelta(minutes=i) for i in range(n_t)])
    day_ids = np.zeros(n_t, dtype=np.int64) if days is None else np.asarray(days, dtype=np.int64)
    return Prepared(symbols=symbols, times=times, mkt=mkt, days=day_ids, bars_per_year=98_280.0)


def run_scenario(ohlc, preds=None, *, trading: dict | None = None, **kwargs) -> BacktestResult:
    """Run the compiled backtest loop on a hand-made scenario (see :func:`build_prep`)."""
    if not isinstance(ohlc, dict):
        ohlc = {"AAA": ohlc}
        preds = {"AAA": preds or {}}
    cfg = TradingConfig(**{**BASE, **(trading or {})})
    prep = build_prep(ohlc, preds, **kwargs)
    state, curve = run_prepared(prep, cfg)
    return build_result(prep, state, curve, cfg)


def flat(price: float, n: int) -> list[tuple[float, float, float, float]]:
    """``n`` bars with open = high = low = close = ``price``."""
    return [(price, price, price, price)] * n
