"""Backtest: a numba-compiled loop over bars x symbols, one shared cash account, exact fills.

:func:`run_backtest` is the entry point; it calls the same compiled strategy step a live engine
uses (:mod:`tradingmodel.strategy`). See ``docs/strategy.md``.
"""

from tradingmodel.backtest.engine import run_backtest
from tradingmodel.backtest.prepare import infer_bars_per_year
from tradingmodel.backtest.result import BacktestResult

__all__ = ["BacktestResult", "infer_bars_per_year", "run_backtest"]
