"""trading_metrics on small hand-computed equity curves and trade lists."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tradingmodel.metrics.trading import trading_metrics

DEPOSIT = 10_000.0


def frames(
    equity: list[float], pnl: list[float], gross: list[float] | None = None, bh: list[float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    eq = pd.DataFrame({"equity": equity})
    if gross is not None:
        eq["gross_exposure"] = gross
    if bh is not None:
        eq["buy_and_hold"] = bh
    tr = pd.DataFrame(
        {
            "pnl": pnl,
            "return_pct": [p / 10.0 for p in pnl],
            "commission": [1.0] * len(pnl),
            "side": ["long"] * len(pnl),
            "exit_reason": ["stop"] * len(pnl),
        }
    )
    return eq, tr


def test_profit_drawdown_win_rate_profit_factor():
    eq, tr = frames([11_000, 9_900, 10_890], [1_000, -1_100, 990], gross=[0, 5, 0], bh=[10_000, 10_500, 10_200])
    m = trading_metrics(eq, tr, DEPOSIT, bars_per_year=252)
    assert m["total_trades"] == 3
    assert m["total_profit"] == pytest.approx(890.0)
    assert m["total_return_pct"] == pytest.approx(8.9)
    assert m["win_rate"] == pytest.approx(200 / 3)
    assert m["average_profit_per_trade"] == pytest.approx(890 / 3)
    assert m["profit_factor"] == pytest.approx(1990 / 1100)
    assert m["maximum_drawdown"] == pytest.approx(1_100.0)  # 11,000 -> 9,900
    assert m["maximum_drawdown_pct"] == pytest.approx(10.0)
    assert m["exposure_pct"] == pytest.approx(100 / 3)
    assert m["commission_paid"] == pytest.approx(3.0)
    assert m["buy_and_hold_return_pct"] == pytest.approx(2.0)
    assert m["buy_and_hold_maximum_drawdown"] == pytest.approx(300.0)
    json.dumps(m)  # JSON-ready


def test_break_even_trade_is_neither_win_nor_loss():
    eq, tr = frames([10_100, 10_100, 10_050], [100.0, 0.0, -50.0])
    m = trading_metrics(eq, tr, DEPOSIT, bars_per_year=252)
    assert m["win_rate"] == pytest.approx(100 / 3)
    assert m["profit_factor"] == pytest.approx(2.0)


def test_drawdown_pct_is_the_deepest_fall_in_percent():
    # 10,000 -> 5,000 is -50 %; the later 100,000 -> 90,000 is the larger fall in dollars but -10 %
    eq, tr = frames([5_000, 10_000, 100_000, 90_000], [])
    m = trading_metrics(eq, tr.iloc[:0], DEPOSIT, bars_per_year=4)
    assert m["maximum_drawdown"] == pytest.approx(10_000.0)
    assert m["maximum_drawdown_pct"] == pytest.approx(50.0)
    assert m["calmar_ratio"] == pytest.approx(8.0 / 0.5)  # annual = total return (4 bars a year)


def test_ratios_follow_their_definitions():
    eq_values = [10_100, 10_050, 10_200, 10_150, 10_300]
    eq, tr = frames(eq_values, [300.0])
    m = trading_metrics(eq, tr, DEPOSIT, bars_per_year=98_280)
    r = np.diff(np.array([DEPOSIT, *eq_values])) / np.array([DEPOSIT, *eq_values[:-1]])
    assert m["sharpe_ratio"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(98_280))
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert m["sortino_ratio"] == pytest.approx(r.mean() / downside * math.sqrt(98_280))
    assert m["annualised_return_pct"] == pytest.approx(((10_300 / DEPOSIT) ** (98_280 / 5) - 1) * 100)
    eq2, _ = frames([20_000.0], [])
    assert trading_metrics(eq2, tr, DEPOSIT, 98_280)["annualised_return_pct"] is None  # past float range
    m = trading_metrics(eq, tr, DEPOSIT, bars_per_year=5)  # one "year" of 5 bars: annual = total
    assert m["annualised_return_pct"] == pytest.approx(3.0)
    assert m["calmar_ratio"] == pytest.approx(0.03 / (50 / 10_100))


def test_degenerate_inputs_stay_json_valid():
    eq, tr = frames([DEPOSIT] * 4, [])
    m = trading_metrics(eq, tr.iloc[:0], DEPOSIT, bars_per_year=252)
    # with no trade there is no win rate or profit factor: n/a (None), not 0
    assert m["total_trades"] == 0 and m["win_rate"] is None and m["profit_factor"] is None
    assert m["sharpe_ratio"] == 0.0 and m["calmar_ratio"] is None and m["maximum_drawdown"] == 0.0
    json.dumps(m)
    eq, tr = frames([10_100, 10_200], [200.0])  # never lost: no downside, no drawdown, no losing trade
    m = trading_metrics(eq, tr, DEPOSIT, bars_per_year=252)
    assert m["profit_factor"] is None and m["sortino_ratio"] is None and m["calmar_ratio"] is None
    with pytest.raises(ValueError, match="deposit must be positive"):
        trading_metrics(eq, tr, 0.0, bars_per_year=252)


def test_daily_figures_per_new_york_session():
    # three sessions; 20:59 UTC and 21:30 UTC on 2024-01-02 are both 2 January in New York
    ts = pd.to_datetime(
        [
            "2024-01-02T14:30Z",
            "2024-01-02T20:59Z",
            "2024-01-03T14:30Z",
            "2024-01-03T20:59Z",
            "2024-01-04T14:30Z",
            "2024-01-04T20:59Z",
        ],
        utc=True,
    )
    eq = pd.DataFrame({"timestamp": ts, "equity": [10_050, 10_200, 10_100, 9_996, 10_300, 10_245.96]})
    tr = pd.DataFrame(
        {
            "pnl": [200.0, -204.0, 249.96],
            "return_pct": [1.0, -1.0, 1.0],
            "commission": [1.0] * 3,
            "side": ["long"] * 3,
            "exit_reason": ["stop"] * 3,
        }
    )
    m = trading_metrics(eq, tr, DEPOSIT, bars_per_year=98_280)
    pnl = np.array([200.0, -204.0, 249.96])
    pct = pnl / np.array([10_000.0, 10_200.0, 9_996.0]) * 100
    assert m["sessions"] == 3
    assert m["mean_daily_profit"] == pytest.approx(pnl.mean())
    assert m["median_daily_profit"] == pytest.approx(200.0)
    assert m["mean_daily_profit_pct"] == pytest.approx(pct.mean())
    assert m["median_daily_profit_pct"] == pytest.approx(np.median(pct))
    assert (m["best_day_profit"], m["best_day_date"]) == (pytest.approx(249.96), "2024-01-04")
    assert m["best_day_profit_pct"] == pytest.approx(pct[2])
    assert (m["worst_day_profit"], m["worst_day_date"]) == (pytest.approx(-204.0), "2024-01-03")
    assert m["worst_day_profit_pct"] == pytest.approx(-2.0)
    # 3 trades over 3 sessions: the caveat says so
    assert len(m["notes"]) == 1 and "3 trades over 3 sessions is a small sample" in m["notes"][0]
    json.dumps(m)


def test_no_caveat_for_a_large_sample():
    from tradingmodel.metrics.trading import small_sample_notes

    assert small_sample_notes({"total_trades": 500, "sessions": 60}) == []
    assert small_sample_notes({"total_trades": 500, "sessions": 5}) != []
    assert "no trade" in small_sample_notes({"total_trades": 0, "sessions": 60})[0]
