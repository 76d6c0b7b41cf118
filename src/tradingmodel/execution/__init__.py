"""Execution: the fill model (slippage, commission, intrabar stop / target) shared by backtest and live."""

from tradingmodel.execution.fills import EXIT_STOP, EXIT_TARGET, NO_EXIT, check_exit, commission, fill_price

__all__ = ["EXIT_STOP", "EXIT_TARGET", "NO_EXIT", "check_exit", "commission", "fill_price"]
