"""Turn the compiled loop's logs into DataFrames, the buy-and-hold reference and the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradingmodel.backtest.prepare import Prepared
from tradingmodel.config import TradingConfig
from tradingmodel.metrics.trading import trading_metrics
from tradingmodel.strategy import layout as L
from tradingmodel.strategy.state import StrategyState


@dataclass
class BacktestResult:
    """Everything a backtest produced. Money in the account currency; ``metrics`` is JSON-ready."""

    trades: pd.DataFrame
    equity: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame
    rejections: pd.DataFrame
    metrics: dict[str, Any]
    config: TradingConfig
    bars_per_year: float = field(default=0.0)


def _names(codes: np.ndarray, table: dict[int, str]) -> np.ndarray:
    return np.array([table[int(c)] for c in codes], dtype=object)


def _sym(symbols: list[str], codes: np.ndarray) -> np.ndarray:
    return np.asarray(symbols, dtype=object)[codes.astype(np.int64)] if len(codes) else np.array([], object)


def _time(times: pd.DatetimeIndex, rows: np.ndarray) -> pd.DatetimeIndex:
    return times[rows.astype(np.int64)]


def buy_and_hold(prep: Prepared, deposit: float) -> np.ndarray:
    """Equal dollar weight per symbol bought at its first bar's open, no costs, marked at each close.

    Before a symbol's first bar its share of the deposit is held as cash.
    """
    n = len(prep.symbols)
    close = pd.DataFrame(prep.mkt[:, :, L.K_CLOSE]).ffill().to_numpy()
    opens = prep.mkt[:, :, L.K_OPEN]
    first = np.argmax(~np.isnan(opens), axis=0)
    shares = (deposit / n) / opens[first, np.arange(n)]
    value = np.where(np.isnan(close), deposit / n, shares[None, :] * close)
    return value.sum(axis=1)


def build_result(prep: Prepared, state: StrategyState, curve: np.ndarray, trading: TradingConfig) -> BacktestResult:
    """Decode the logs of a finished run into a :class:`BacktestResult`."""
    fills, trades, orders, rej = state.used()
    syms, times = prep.symbols, prep.times
    trades_df = pd.DataFrame(
        {
            "symbol": _sym(syms, trades[:, L.TR_SYM]),
            "side": np.where(trades[:, L.TR_SIDE] > 0, "long", "short").astype(object),
            "entry_time": _time(times, trades[:, L.TR_ENTRY_T]),
            "entry_price": trades[:, L.TR_ENTRY_PRICE],
            "exit_time": _time(times, trades[:, L.TR_EXIT_T]),
            "exit_price": trades[:, L.TR_EXIT_PRICE],
            "quantity": trades[:, L.TR_QTY],
            "pnl": trades[:, L.TR_PNL],
            "return_pct": trades[:, L.TR_RET_PCT],
            "commission": trades[:, L.TR_COMM],
            "exit_reason": _names(trades[:, L.TR_REASON], L.PURPOSES),
        }
    )
    fills_df = pd.DataFrame(
        {
            "timestamp": _time(times, fills[:, L.FL_T]),
            "symbol": _sym(syms, fills[:, L.FL_SYM]),
            "side": np.where(fills[:, L.FL_SIDE] > 0, "buy", "sell").astype(object),
            "quantity": fills[:, L.FL_QTY],
            "price": fills[:, L.FL_PRICE],
            "reference_price": fills[:, L.FL_REF],
            "commission": fills[:, L.FL_COMM],
            "slippage_cost": fills[:, L.FL_SLIP],
            "purpose": _names(fills[:, L.FL_PURPOSE], L.PURPOSES),
        }
    )
    orders_df = pd.DataFrame(
        {
            "timestamp": _time(times, orders[:, L.OR_T]),
            "symbol": _sym(syms, orders[:, L.OR_SYM]),
            "side": np.where(orders[:, L.OR_SIDE] > 0, "buy", "sell").astype(object),
            "quantity": orders[:, L.OR_QTY],
            "type": _names(orders[:, L.OR_TYPE], L.ORDER_TYPES),
            "purpose": _names(orders[:, L.OR_PURPOSE], L.PURPOSES),
        }
    )
    rej_df = pd.DataFrame(
        {
            "timestamp": _time(times, rej[:, L.RJ_T]),
            "symbol": _sym(syms, rej[:, L.RJ_SYM]),
            "reason": _names(rej[:, L.RJ_REASON], L.REJECTION_REASONS),
        }
    )
    equity_df = pd.DataFrame(
        {
            "timestamp": times,
            "equity": curve[:, 0],
            "cash": curve[:, 1],
            "gross_exposure": curve[:, 2],
            "buy_and_hold": buy_and_hold(prep, trading.deposit),
        }
    )
    metrics = trading_metrics(equity_df, trades_df, trading.deposit, prep.bars_per_year, fills=fills_df)
    metrics["rejections"] = {str(k): int(v) for k, v in rej_df["reason"].value_counts().items()}
    metrics["symbols"] = list(syms)
    metrics["largest_predicted_move"] = largest_predicted_move(prep, trading)
    if metrics["total_trades"] == 0:
        metrics["notes"] = [*metrics.get("notes", []), no_trade_reason(metrics["largest_predicted_move"], trading)]
    return BacktestResult(
        trades=trades_df,
        equity=equity_df,
        orders=orders_df,
        fills=fills_df,
        rejections=rej_df,
        metrics=metrics,
        config=trading,
        bars_per_year=prep.bars_per_year,
    )


def largest_predicted_move(prep: Prepared, trading: TradingConfig) -> dict[str, Any]:
    """The largest predicted rise and fall of any bar, in the unit the entry thresholds are given in
    (% of the close, or multiples of ``ret_std20`` with ``threshold_unit="sigma"``), beside them."""
    close, pred = prep.mkt[:, :, L.K_CLOSE], prep.mkt[:, :, L.K_PRED]
    with np.errstate(divide="ignore", invalid="ignore"):
        move = pred / close - 1.0
        move = move / prep.mkt[:, :, L.K_RETSTD] if trading.threshold_unit == "sigma" else move * 100.0
    finite = move[np.isfinite(move)]
    return {
        "unit": trading.threshold_unit,
        "predictions": int(finite.size),
        "rise": float(finite.max()) if finite.size else None,
        "fall": float(-finite.min()) if finite.size else None,
        "buy_threshold": float(trading.buy_threshold),
        "sell_threshold": float(trading.sell_threshold),
    }


def no_trade_reason(move: dict[str, Any], trading: TradingConfig) -> str:
    """Why a run made no trade, with the largest predicted move beside the thresholds."""
    unit = "%" if move["unit"] == "percent" else " σ"
    if not move["predictions"]:
        return "no trade: no bar had a usable prediction (after the 20-bar feature warm-up)"
    rise, fall = move["rise"], move["fall"]
    cleared = rise > trading.buy_threshold or (trading.allow_short and fall > trading.sell_threshold)
    text = (
        f"largest predicted rise {rise:.4g}{unit} against the buy threshold {trading.buy_threshold:g}{unit}; "
        f"largest predicted fall {fall:.4g}{unit} against the sell threshold {trading.sell_threshold:g}{unit}"
        + ("" if trading.allow_short else " (shorts off)")
    )
    if not cleared:
        return f"no trade: no prediction cleared a threshold ({text})"
    return (
        f"no trade although predictions cleared a threshold ({text}): the RSI, volume, session or risk "
        "rules stopped every entry (see rejections)"
    )
