"""run_backtest on simulated bars: input checks, no look-ahead, live/backtest step parity, null mode."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradingmodel.backtest import infer_bars_per_year, run_backtest
from tradingmodel.backtest.engine import run_prepared
from tradingmodel.backtest.prepare import prepare
from tradingmodel.config import TradingConfig
from tradingmodel.data import simulate
from tradingmodel.data.columns import TRADE_COLUMNS
from tradingmodel.strategy import StrategyState, close_all, step

# Sigma thresholds make entries frequent on minute bars (a 1.5% one-minute move is rare).
ACTIVE = TradingConfig(
    threshold_unit="sigma", buy_threshold=0.5, sell_threshold=0.5, cooldown_bars=3, max_holding_bars=20
)


def noisy_predictions(bars: pd.DataFrame, seed: int, noise: float = 0.001) -> pd.DataFrame:
    """Each bar's close times a random factor: predictions with no information."""
    rng = np.random.default_rng(seed)
    close = bars["close"].to_numpy()
    return pd.DataFrame(
        {
            "symbol": bars["symbol"],
            "timestamp": bars["timestamp"],
            "predicted_close": close * (1 + noise * rng.standard_normal(len(bars))),
        }
    )


@pytest.fixture(scope="module")
def sim() -> tuple[pd.DataFrame, pd.DataFrame]:
    bars = simulate(["AAA", "BBB", "CCC"], 3, seed=11)
    return bars, noisy_predictions(bars, 1)


def test_result_shapes_and_accounting(sim):
    bars, preds = sim
    r = run_backtest(bars, preds, ACTIVE)
    assert len(r.trades) > 20
    assert list(r.trades.columns) == list(TRADE_COLUMNS)
    assert set(r.trades["exit_reason"]) <= {"stop", "target", "time", "session_close", "halt", "end"}
    assert len(r.equity) == bars["timestamp"].nunique()
    # cash account closes: final equity = deposit + sum of trade pnl (everything is closed at the end)
    assert r.equity["equity"].iloc[-1] == pytest.approx(ACTIVE.deposit + r.trades["pnl"].sum())
    assert r.metrics["total_profit"] == pytest.approx(r.trades["pnl"].sum())
    assert (r.trades["exit_time"] >= r.trades["entry_time"]).all()
    assert (r.fills.groupby("purpose").size().sum()) == 2 * len(r.trades)
    assert r.equity["gross_exposure"].iloc[-1] == 0.0
    assert r.metrics["bars_per_year"] == pytest.approx(390 * 252)


def test_no_look_ahead(sim):
    """A trade's entry and exit are unchanged when every bar after its exit is deleted."""
    bars, preds = sim
    full = run_backtest(bars, preds, ACTIVE).trades
    candidates = full[full["exit_reason"] != "end"]
    picks = candidates.iloc[np.linspace(0, len(candidates) - 1, 6).astype(int)]
    for trade in picks.itertuples():
        keep = bars["timestamp"] <= trade.exit_time
        cut = run_backtest(bars[keep], preds[keep.to_numpy()], ACTIVE).trades
        row = cut[(cut["symbol"] == trade.symbol) & (cut["entry_time"] == trade.entry_time)]
        assert len(row) == 1, trade
        got = row.iloc[0]
        assert (got.exit_time, got.entry_price, got.exit_price, got.quantity, got.exit_reason) == (
            trade.exit_time,
            trade.entry_price,
            trade.exit_price,
            trade.quantity,
            trade.exit_reason,
        )
        assert got.pnl == trade.pnl


def test_flatten_at_each_symbols_last_bar_of_the_new_york_day(sim):
    """Session ends come from the bars (New York dates, per symbol): no position is held overnight,
    also for a symbol whose last bars of a day are missing."""
    bars, preds = sim
    ny = bars["timestamp"].dt.tz_convert("America/New_York")
    drop = (bars["symbol"] == "BBB") & (ny.dt.hour == 15) & (ny.dt.minute >= 30)  # BBB ends at 15:29
    r = run_backtest(bars[~drop], preds[~drop.to_numpy()], ACTIVE)
    trades = r.trades
    day = {c: trades[c].dt.tz_convert("America/New_York").dt.date for c in ("entry_time", "exit_time")}
    assert (day["entry_time"] == day["exit_time"]).all()
    closes = r.fills[r.fills["purpose"] == "session_close"]
    assert set(closes["symbol"]) >= {"AAA", "BBB"}
    last = bars[~drop].groupby(["symbol", ny[~drop].dt.date])["timestamp"].max()
    for f in closes.itertuples():
        assert last[(f.symbol, f.timestamp.tz_convert("America/New_York").date())] == f.timestamp


def test_bar_by_bar_step_matches_the_compiled_loop(sim):
    """The live path (Python calls strategy.step per time slice) equals the backtest loop exactly."""
    bars, preds = sim
    prep = prepare(bars, preds)
    loop_state, curve = run_prepared(prep, ACTIVE)
    live = StrategyState.new(prep.symbols, ACTIVE, capacity=8)  # tiny: exercises growing the logs
    equity = np.empty(prep.mkt.shape[0])
    for t in range(prep.mkt.shape[0]):
        step(live, prep.mkt[t : t + 1], stamp=t, day=int(prep.days[t]))
        equity[t] = live.acct[1]
    close_all(live)
    for a, b in zip(loop_state.used(), live.used(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(curve[:-1, 0], equity[:-1])
    np.testing.assert_array_equal(loop_state.acct, live.acct)


def test_null_mode_with_costs_does_not_make_money():
    """Random-walk bars and uninformative predictions: costs make the result negative, no edge."""
    bars = simulate(["AAA", "BBB", "CCC", "DDD"], 10, seed=5, null=True)
    r = run_backtest(bars, noisy_predictions(bars, 2), ACTIVE)
    gross = r.trades["pnl"] + r.trades["commission"]
    assert len(r.trades) > 200
    assert r.metrics["costs_paid"] > 0
    assert r.metrics["total_profit"] < 0
    # before costs the mean trade is within 3 standard errors of zero (no edge on a random walk)
    assert abs(gross.mean()) < 3 * gross.std(ddof=1) / np.sqrt(len(gross))


def test_predictions_misaligned_are_named(sim):
    bars, preds = sim
    bad = preds.copy()
    bad.loc[5, "symbol"] = "ZZZ"
    with pytest.raises(ValueError, match=r"row 5: symbol 'ZZZ' is not in the bars"):
        run_backtest(bars, bad, ACTIVE)
    bad = preds.copy()
    bad.loc[7, "timestamp"] = bad.loc[7, "timestamp"] + pd.Timedelta(seconds=30)
    with pytest.raises(ValueError, match=r"row 7: no AAA bar at"):
        run_backtest(bars, bad, ACTIVE)
    bad = preds.copy()
    bad.loc[9, "predicted_close"] = np.nan
    with pytest.raises(ValueError, match=r"row 9: predicted_close = nan"):
        run_backtest(bars, bad, ACTIVE)
    with pytest.raises(ValueError, match=r"row 3: second prediction for AAA"):
        run_backtest(bars, pd.concat([preds.iloc[:3], preds.iloc[:1]], ignore_index=True), ACTIVE)
    with pytest.raises(ValueError, match=r"missing column\(s\) predicted_close"):
        run_backtest(bars, preds.drop(columns="predicted_close"), ACTIVE)


def test_missing_predictions_mean_no_entries(sim):
    bars, preds = sim
    r = run_backtest(bars, preds.iloc[:0], ACTIVE)
    assert r.trades.empty and r.metrics["total_profit"] == 0.0
    assert r.equity["equity"].eq(ACTIVE.deposit).all()


def test_bad_bars_are_named(sim):
    bars, preds = sim
    bad = bars.copy()
    bad.loc[4, "close"] = np.nan
    with pytest.raises(ValueError, match=r"bars: row 5: close is missing \(NaN\)"):
        run_backtest(bars.assign(close=bad["close"]), preds, ACTIVE)
    dup = pd.concat([bars.iloc[:3], bars.iloc[2:3]], ignore_index=True)
    with pytest.raises(ValueError, match=r"bars: row 4: duplicate timestamp .* for AAA \(same as row 3\)"):
        run_backtest(dup, preds.iloc[:0], ACTIVE)


def test_bars_per_year_from_spacing():
    minute = pd.date_range("2024-01-02 14:30", periods=50, freq="min", tz="UTC")
    assert infer_bars_per_year(minute) == pytest.approx(390 * 252)
    five = pd.date_range("2024-01-02 14:30", periods=50, freq="5min", tz="UTC")
    assert infer_bars_per_year(five) == pytest.approx(78 * 252)
    daily = pd.bdate_range("2024-01-02", periods=50, tz="UTC")
    assert infer_bars_per_year(daily) == pytest.approx(252)


def test_inconsistent_ohlc_is_refused(sim):
    bars, preds = sim
    bad = bars.copy()
    bad.loc[11, "high"] = bad.loc[11, "low"] - 0.01
    with pytest.raises(ValueError, match=r"bars: row 12: high .* is below low"):
        run_backtest(bad, preds, ACTIVE)
    bad = bars.copy()
    bad.loc[12, "close"] = bad.loc[12, "high"] + 0.01
    with pytest.raises(ValueError, match=r"bars: row 13: OHLC inconsistent: close .* is above high"):
        run_backtest(bad, preds, ACTIVE)


def test_symbols_match_whatever_their_case(sim):
    """Bars are validated to upper-case symbols; predictions written in another case still line up."""
    bars, preds = sim
    lower = run_backtest(
        bars.assign(symbol=bars["symbol"].str.lower()), preds.assign(symbol=preds["symbol"].str.lower()), ACTIVE
    )
    assert lower.metrics == run_backtest(bars, preds, ACTIVE).metrics
