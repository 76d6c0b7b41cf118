"""The backtest: one compiled loop over the time axis, the simulated executor between the strategy's phases.

Per time slice: the simulated executor fills at the bars (next-open orders, resting stops / targets),
the strategy applies those fills, decides at the close, the executor takes the orders (market-on-close
fills at once) and the strategy applies those fills. Predictions are made beforehand, in batch (one
per bar, for the next bar's close); the loop never sees a bar before its time, so a trade is unchanged
when the bars after its exit are deleted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from tradingmodel.backtest.prepare import Prepared, prepare
from tradingmodel.backtest.result import BacktestResult, build_result
from tradingmodel.config import TradingConfig
from tradingmodel.execution.fills import sim_bar, sim_submit
from tradingmodel.execution.simulated import SimulatedExecutor
from tradingmodel.strategy.core import apply_fills, decide, end_orders, grow_log
from tradingmodel.strategy.layout import A_CASH, A_EQUITY, A_GROSS, C_FILLS, C_ORDERS, C_REJ, C_TRADES
from tradingmodel.strategy.state import StrategyState


# _nrt=False: this function allocates nothing, so it needs no reference counting; without it the
# arrays passed to the inlined phases were incref'd and decref'd on every row (measured 2x slower).
@njit(cache=True, error_model="numpy", _nrt=False)
def run_rows(mkt, days, t_start, t_stop, sf, si, acct, p, fills, trades, orders, rej, counts, ex, xa, out, rep, curve):
    """Rows ``t_start:t_stop`` of ``mkt`` through executor and strategy (see the module docstring).

    Events are logged at stamp ``t``; ``curve[t]`` gets (equity, cash, gross exposure). Returns the next
    row to process: ``t_stop``, or earlier when a log has fewer than ``2 * n_symbols + 2`` free rows.
    The phases are inlined (``inline="always"``) into this one loop, so a row costs no calls.
    """
    extra = 2 * mkt.shape[1] + 2
    t = t_start
    while t < t_stop:
        if (
            counts[C_FILLS] + extra > fills.shape[0]
            or counts[C_TRADES] + extra > trades.shape[0]
            or counts[C_ORDERS] + extra > orders.shape[0]
            or counts[C_REJ] + extra > rej.shape[0]
        ):
            return t
        k = sim_bar(mkt, t, t, ex, xa, rep)
        if k > 0:
            apply_fills(rep, k, sf, si, acct, p, fills, trades, orders, rej, counts)
        k = decide(mkt, t, days[t], t, sf, si, acct, p, orders, rej, counts, out)
        if k > 0:
            k = sim_submit(out, k, ex, xa, rep)
            if k > 0:
                apply_fills(rep, k, sf, si, acct, p, fills, trades, orders, rej, counts)
        curve[t, 0] = acct[A_EQUITY]
        curve[t, 1] = acct[A_CASH]
        curve[t, 2] = acct[A_GROSS]
        t += 1
    return t


@njit(cache=True, error_model="numpy")
def run_loop(mkt, days, sf, si, acct, p, fills, trades, orders, rej, counts, ex, xa, out, rep, curve):
    """Run :func:`run_rows` over every row of ``mkt``, growing the logs when it asks, then close what is
    open at the last closes (reason ``end``). Returns the (re-allocated) logs."""
    n_t = mkt.shape[0]
    extra = 2 * mkt.shape[1] + 2
    t = 0
    while True:
        t = run_rows(mkt, days, t, n_t, sf, si, acct, p, fills, trades, orders, rej, counts, ex, xa, out, rep, curve)
        fills = grow_log(fills, counts[C_FILLS] + extra)
        trades = grow_log(trades, counts[C_TRADES] + extra)
        orders = grow_log(orders, counts[C_ORDERS] + extra)
        rej = grow_log(rej, counts[C_REJ] + extra)
        if t >= n_t:
            break
    k = sim_submit(out, end_orders(sf, si, out), ex, xa, rep)
    apply_fills(rep, k, sf, si, acct, p, fills, trades, orders, rej, counts)
    if n_t > 0:
        curve[n_t - 1, 0] = acct[A_EQUITY]
        curve[n_t - 1, 1] = acct[A_CASH]
        curve[n_t - 1, 2] = acct[A_GROSS]
    return fills, trades, orders, rej


def run_prepared(prep: Prepared, trading: TradingConfig) -> tuple[StrategyState, np.ndarray]:
    """Run the compiled loop on prepared arrays; return the final state and the (T, 3) curve."""
    state = StrategyState.new(prep.symbols, trading, capacity=4096)
    sim = SimulatedExecutor.new(len(prep.symbols), trading)
    curve = np.zeros((prep.mkt.shape[0], 3))
    state.fills, state.trades, state.orders, state.rejections = run_loop(
        prep.mkt,
        prep.days,
        state.sf,
        state.si,
        state.acct,
        state.p,
        state.fills,
        state.trades,
        state.orders,
        state.rejections,
        state.counts,
        sim.ex,
        sim.xa,
        state.out,
        sim.rep,
        curve,
    )
    return state, curve


def run_backtest(
    bars: pd.DataFrame, predictions: pd.DataFrame, trading: TradingConfig, *, source: str = "predictions"
) -> BacktestResult:
    """Backtest ``predictions`` (row = bar t, predicting bar t+1's close) on ``bars``.

    Features are computed here from the bars; predictions are matched to bars by (symbol,
    timestamp) and any mismatch is an error naming ``source`` and the row. Bars without a
    prediction take no entry.
    """
    prep = prepare(bars, predictions, source)
    state, curve = run_prepared(prep, trading)
    return build_result(prep, state, curve, trading)
