"""Trading metrics of a backtest or paper session, in percent and in dollars on the deposit.

Definitions (see ``docs/strategy.md``):

* per-bar returns ``r_t = equity_t / equity_{t-1} - 1``, the first against the deposit;
* ``sharpe_ratio = mean(r) / std(r, ddof=1) * sqrt(bars_per_year)`` (0 when std is 0), no risk-free rate;
* ``sortino_ratio = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(bars_per_year)`` (no bar lost: None, or 0
  when mean(r) <= 0);
* ``annualised_return_pct = ((final / deposit) ** (bars_per_year / bars) - 1) * 100``;
* ``maximum_drawdown`` = largest fall of equity from a previous peak (the deposit counts as a peak),
  in dollars; ``maximum_drawdown_pct`` = largest fall relative to its peak, in percent (it can be
  another episode than the dollar maximum: 100 -> 50 is 50 %, a later 1,000 -> 900 is $100 but 10 %);
* ``calmar_ratio = annualised return / maximum drawdown fraction`` (None without a drawdown);
* ``profit_factor = sum of winning trades' pnl / |sum of losing trades' pnl|`` (None without a loss);
  ``win_rate`` and ``profit_factor`` are None ("n/a") without a trade, not 0;
* daily figures (with a ``timestamp`` column): a day's P&L is its last equity minus the previous
  day's (the deposit before the first), in $ and in % of the previous day's equity, per New York
  session date; ``mean_/median_daily_profit``, ``best_/worst_day_profit`` (+ ``_pct``, ``_date``);
* ``notes``: a small-sample caveat when a run has fewer than ``SMALL_TRADES`` trades or
  ``SMALL_SESSIONS`` sessions (its ratios and annualised figures are not statistically reliable);
* ``exposure_pct`` = share of bars ending with an open position;
* ``costs_paid`` = commissions + slippage (price difference x shares against the reference price).

Values that would be infinite are ``None`` so that the dict stays valid JSON.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

SMALL_TRADES = 100  # fewer trades than this: win rate and per-trade figures are noise
SMALL_SESSIONS = 20  # fewer sessions than this: Sharpe, Sortino, Calmar and annualised return are noise


def _returns(values: np.ndarray, start: float) -> np.ndarray:
    prev = np.concatenate(([start], values[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = values / prev - 1.0
    return np.where(np.isfinite(r), r, 0.0)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def curve_stats(values: np.ndarray, start: float, bars_per_year: float) -> dict[str, float | None]:
    """Return, drawdown and risk-adjusted ratios of one equity curve that started at ``start``."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    final = float(values[-1]) if n else start
    r = _returns(values, start)
    ann = math.sqrt(bars_per_year)
    sd = float(np.std(r, ddof=1)) if n > 1 else 0.0
    mean = float(r.mean()) if n else 0.0
    sharpe = mean / sd * ann if sd > 0 else 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) if n else 0.0
    sortino: float | None = mean / downside * ann if downside > 0 else (0.0 if mean <= 0 else None)
    level = np.concatenate(([start], values))
    peak = np.maximum.accumulate(level)
    dd = peak - level
    max_dd = float(dd.max())
    # the deepest fall in percent can be a different episode than the largest fall in dollars
    frac = np.divide(dd, peak, out=np.zeros_like(dd), where=peak > 0)
    max_dd_frac = float(frac.max())
    growth = final / start
    try:
        annual = (growth ** (bars_per_year / n) - 1.0) if (n and growth > 0) else -1.0
    except OverflowError:  # e.g. +3% in 5 minute bars, compounded over a year
        annual = math.inf
    calmar = annual / max_dd_frac if max_dd_frac > 0 else None
    return {
        "final_equity": final,
        "total_return_pct": (growth - 1.0) * 100.0,
        "annualised_return_pct": _finite(annual * 100.0),
        "maximum_drawdown": max_dd,
        "maximum_drawdown_pct": max_dd_frac * 100.0,
        "sharpe_ratio": sharpe,
        "sortino_ratio": sortino,
        "calmar_ratio": _finite(calmar) if calmar is not None else None,
    }


def trading_metrics(
    equity: pd.DataFrame, trades: pd.DataFrame, deposit: float, bars_per_year: float, fills: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Metrics of one run: ``equity`` has ``equity`` (and optionally ``gross_exposure``,
    ``buy_and_hold``) per bar; ``trades`` has ``pnl``, ``return_pct``, ``commission``, ``side``,
    ``exit_reason``; ``fills`` (optional) adds slippage to ``costs_paid``.
    """
    if deposit <= 0:
        raise ValueError(f"deposit must be positive, got {deposit}")
    if "equity" not in equity.columns:
        raise ValueError("equity frame lacks an 'equity' column")
    stats = curve_stats(equity["equity"].to_numpy(dtype=np.float64), deposit, bars_per_year)
    pnl = trades["pnl"].to_numpy(dtype=np.float64) if len(trades) else np.zeros(0)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    commission_paid = float(trades["commission"].sum()) if len(trades) else 0.0
    slippage_paid = float(fills["slippage_cost"].sum()) if fills is not None and len(fills) else 0.0
    total_profit = stats["final_equity"] - deposit
    out: dict[str, Any] = {
        "deposit": float(deposit),
        "final_equity": stats["final_equity"],
        "total_trades": int(pnl.size),
        "long_trades": int((trades["side"] == "long").sum()) if len(trades) else 0,
        "short_trades": int((trades["side"] == "short").sum()) if len(trades) else 0,
        "total_profit": total_profit,
        "total_profit_pct": total_profit / deposit * 100.0,
        "total_return_pct": stats["total_return_pct"],
        "annualised_return_pct": stats["annualised_return_pct"],
        "win_rate": float(wins.size / pnl.size * 100.0) if pnl.size else None,
        "average_profit_per_trade": float(pnl.mean()) if pnl.size else 0.0,
        "average_profit_per_trade_pct": float(trades["return_pct"].mean()) if pnl.size else 0.0,
        "profit_factor": float(wins.sum() / -losses.sum()) if losses.size else None,
        **daily_figures(equity, deposit),
        "maximum_drawdown": stats["maximum_drawdown"],
        "maximum_drawdown_pct": stats["maximum_drawdown_pct"],
        "sharpe_ratio": stats["sharpe_ratio"],
        "sortino_ratio": stats["sortino_ratio"],
        "calmar_ratio": stats["calmar_ratio"],
        "exposure_pct": (
            float((equity["gross_exposure"].to_numpy() > 0).mean() * 100.0)
            if "gross_exposure" in equity.columns and len(equity)
            else 0.0
        ),
        "commission_paid": commission_paid,
        "slippage_paid": slippage_paid,
        "costs_paid": commission_paid + slippage_paid,
        "costs_paid_pct": (commission_paid + slippage_paid) / deposit * 100.0,
        "exit_reasons": (
            {str(k): int(v) for k, v in trades["exit_reason"].value_counts().items()} if len(trades) else {}
        ),
        "bars": int(len(equity)),
        "bars_per_year": float(bars_per_year),
    }
    if "buy_and_hold" in equity.columns and len(equity):
        bh = curve_stats(equity["buy_and_hold"].to_numpy(dtype=np.float64), deposit, bars_per_year)
        out.update(
            {
                "buy_and_hold_profit": bh["final_equity"] - deposit,
                "buy_and_hold_return_pct": bh["total_return_pct"],
                "buy_and_hold_maximum_drawdown": bh["maximum_drawdown"],
                "buy_and_hold_maximum_drawdown_pct": bh["maximum_drawdown_pct"],
                "buy_and_hold_sharpe_ratio": bh["sharpe_ratio"],
            }
        )
    out["notes"] = small_sample_notes(out)
    return out


def daily_figures(equity: pd.DataFrame, deposit: float) -> dict[str, Any]:
    """Daily P&L per New York session date, in $ and % (see the module docstring); {} without timestamps."""
    if "timestamp" not in equity.columns or not len(equity):
        return {}
    from tradingmodel.data.sessions import new_york_dates

    days = new_york_dates(pd.DatetimeIndex(equity["timestamp"]))
    last = np.r_[days[1:] != days[:-1], True]
    close = equity["equity"].to_numpy(dtype=np.float64)[last]
    prev = np.r_[deposit, close[:-1]]
    pnl = close - prev
    pct = np.divide(pnl, prev, out=np.zeros_like(pnl), where=prev > 0) * 100.0
    dates = [str(d) for d in days[last]]
    best, worst = int(np.argmax(pnl)), int(np.argmin(pnl))
    return {
        "sessions": int(pnl.size),
        "mean_daily_profit": float(pnl.mean()),
        "mean_daily_profit_pct": float(pct.mean()),
        "median_daily_profit": float(np.median(pnl)),
        "median_daily_profit_pct": float(np.median(pct)),
        "best_day_profit": float(pnl[best]),
        "best_day_profit_pct": float(pct[best]),
        "best_day_date": dates[best],
        "worst_day_profit": float(pnl[worst]),
        "worst_day_profit_pct": float(pct[worst]),
        "worst_day_date": dates[worst],
    }


def small_sample_notes(m: dict[str, Any]) -> list[str]:
    """The caveat for a run with few trades or few sessions, as the CLI and the report print it."""
    trades, sessions = int(m.get("total_trades", 0)), m.get("sessions")
    few_trades = trades < SMALL_TRADES
    few_sessions = sessions is not None and sessions < SMALL_SESSIONS
    if not (few_trades or few_sessions):
        return []
    what = f"{trades} trade{'s' if trades != 1 else ''}"
    if sessions is not None:
        what += f" over {sessions} session{'s' if sessions != 1 else ''}"
    if trades == 0:
        return [f"{what}: no trade, so there are no trading figures to judge (win rate and profit factor n/a)"]
    return [
        f"{what} is a small sample (under {SMALL_TRADES} trades or {SMALL_SESSIONS} sessions): the win rate, "
        "Sharpe, Sortino, Calmar and annualised return are not statistically reliable"
    ]
