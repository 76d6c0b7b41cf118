"""The backtest: a compiled loop over the time axis calling the strategy step once per timestamp.

Predictions are made beforehand, in batch (one per bar, for the next bar's close); the loop never
sees a bar before its time, so a trade is unchanged when the bars after its exit are deleted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from tradingmodel.backtest.prepare import Prepared, prepare
from tradingmodel.backtest.result import BacktestResult, build_result
from tradingmodel.config import TradingConfig
from tradingmodel.strategy.core import close_all, grow_log, step
from tradingmodel.strategy.layout import A_CASH, A_EQUITY, A_GROSS, C_FILLS, C_ORDERS, C_REJ, C_TRADES
from tradingmodel.strategy.state import StrategyState


@njit(cache=True, error_model="numpy")
def run_loop(mkt, days, sf, si, acct, p, fills, trades, orders, rej, counts, curve):
    """Run :func:`step` over every row of ``mkt``, growing the logs when it asks, then close what
    is open; ``curve[t]`` gets (equity, cash, gross exposure). Returns the (re-allocated) logs.
    """
    n_t = mkt.shape[0]
    extra = 2 * mkt.shape[1] + 2
    t = 0
    while True:
        t = step(mkt, days, t, n_t, 0, sf, si, acct, p, fills, trades, orders, rej, counts, curve)
        fills = grow_log(fills, counts[C_FILLS] + extra)
        trades = grow_log(trades, counts[C_TRADES] + extra)
        orders = grow_log(orders, counts[C_ORDERS] + extra)
        rej = grow_log(rej, counts[C_REJ] + extra)
        if t >= n_t:
            break
    close_all(sf, si, acct, p, fills, trades, counts)
    if n_t > 0:
        curve[n_t - 1, 0] = acct[A_EQUITY]
        curve[n_t - 1, 1] = acct[A_CASH]
        curve[n_t - 1, 2] = acct[A_GROSS]
    return fills, trades, orders, rej


def run_prepared(prep: Prepared, trading: TradingConfig) -> tuple[StrategyState, np.ndarray]:
    """Run the compiled loop on prepared arrays; return the final state and the (T, 3) curve."""
    state = StrategyState.new(prep.symbols, trading, capacity=4096)
    curve = np.zeros((prep.mkt.shape[0], 3))
    state.fills, state.trades, state.orders, state.rejections = run_loop(
        prep.mkt, prep.days, state.sf, state.si, state.acct, state.p, state.fills, state.trades,
        state.orders, state.rejections, state.counts, curve)
    return state, curve


def run_backtest(bars: pd.DataFrame, predictions: pd.DataFrame, trading: TradingConfig, *,
                 source: str = "predictions") -> BacktestResult:
    """Backtest ``predictions`` (row = bar t, predicting bar t+1's close) on ``bars``.

    Features are computed here from the bars; predictions are matched to bars by (symbol,
    timestamp) and any mismatch is an error naming ``source`` and the row. Bars without a
    prediction take no entry.
    """
    prep = prepare(bars, predictions, source)
    state, curve = run_prepared(prep, trading)
    return build_result(prep, state, curve, trading)
