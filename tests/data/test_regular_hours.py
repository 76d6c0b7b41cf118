"""Bars outside US regular hours (Polygon serves 04:00-20:00 New York) are left out before modelling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.cli.common import input_bars
from tradingmodel.data import regular_hours, regular_hours_mask, simulate, write_bars


def test_mask_follows_new_york_time_across_dst() -> None:
    ts = pd.to_datetime(
        [
            "2024-01-02T14:29:00Z",  # 09:29 EST: pre-market
            "2024-01-02T14:30:00Z",  # 09:30 EST: first regular bar
            "2024-01-02T20:59:00Z",  # 15:59 EST: last regular bar
            "2024-01-02T21:00:00Z",  # 16:00 EST: after-market
            "2024-07-01T13:30:00Z",  # 09:30 EDT
            "2024-07-01T14:29:00Z",  # 10:29 EDT
            "2024-07-01T20:00:00Z",  # 16:00 EDT: after-market
            "2024-01-06T15:00:00Z",  # a Saturday
        ],
        utc=True,
    )
    assert regular_hours_mask(ts).tolist() == [False, True, True, False, True, True, False, False]


def test_simulated_bars_are_all_regular_and_extended_bars_are_dropped(tmp_path: Path) -> None:
    bars = simulate(["AAA"], 2, seed=1)
    assert regular_hours(bars) is bars
    late = bars.iloc[[-1]].assign(timestamp=bars["timestamp"].iloc[-1] + pd.Timedelta(minutes=30))
    extended = pd.concat([bars, late], ignore_index=True)
    path = tmp_path / "ext.csv"
    write_bars(extended, path)
    loaded, _ = input_bars(path)
    assert len(loaded) == len(bars) and loaded["timestamp"].max() == bars["timestamp"].max()


def test_daily_bars_are_kept_and_cli_reports_the_drop(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-02", periods=30, freq="B", tz="UTC") + pd.Timedelta(hours=5)
    daily = pd.DataFrame(
        {"symbol": "AAA", "timestamp": days, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1000.0}
    )
    path = tmp_path / "daily.csv"
    write_bars(daily, path)
    assert len(input_bars(path)[0]) == 30
    only_night = simulate(["AAA"], 1, seed=1).assign(
        timestamp=lambda b: b["timestamp"] + pd.Timedelta(hours=8)
    )  # 17:30-00:29 New York
    night = tmp_path / "night.csv"
    write_bars(only_night, night)
    r = CliRunner().invoke(app, ["predict", "--model", str(tmp_path), "--data", str(night), "--out", "p.csv"])
    assert r.exit_code == 2 and "no bar inside US regular hours" in r.output


def test_holidays_have_no_session_and_early_closes_end_at_13_00() -> None:
    ts = pd.to_datetime(
        [
            "2024-07-03T16:59:00Z",  # 12:59 EDT on an early-close day: the last regular bar
            "2024-07-03T17:00:00Z",  # 13:00 EDT: the session has closed
            "2024-07-04T14:00:00Z",  # Independence Day: no session
            "2024-11-29T17:59:00Z",  # 12:59 EST, day after Thanksgiving
            "2024-11-29T18:00:00Z",  # 13:00 EST
            "2024-12-24T18:30:00Z",  # 13:30 EST, Christmas Eve: closed
            "2024-12-25T15:00:00Z",  # Christmas
            "2024-01-15T15:00:00Z",  # Martin Luther King Jr. Day
            "2024-07-05T19:59:00Z",  # 15:59 EDT on a full day after the holiday
        ],
        utc=True,
    )
    assert regular_hours_mask(ts).tolist() == [True, False, False, True, False, False, False, False, True]


def test_simulator_follows_the_calendar() -> None:
    bars = simulate(["AAA"], 3, seed=1, start="2024-07-02")  # Tue 2nd, Wed 3rd (early close), Fri 5th
    local = bars["timestamp"].dt.tz_convert("America/New_York")
    per_day = local.dt.strftime("%Y-%m-%d").value_counts().sort_index()
    assert per_day.to_dict() == {"2024-07-02": 390, "2024-07-03": 210, "2024-07-05": 390}
    assert local[local.dt.day == 3].dt.strftime("%H:%M").max() == "12:59"
    assert regular_hours(bars) is bars


def test_flatten_at_close_uses_the_early_close() -> None:
    """A position opened on 2024-07-03 is closed at the session's last bar, 12:59 New York."""
    from tradingmodel.backtest import run_backtest
    from tradingmodel.config import TradingConfig

    bars = simulate(["AAA"], 2, seed=2, start="2024-07-03")
    preds = bars[["symbol", "timestamp"]].assign(predicted_close=bars["close"] * 1.01)
    cfg = TradingConfig(
        buy_threshold=0.1,
        flatten_at_close=True,
        max_holding_bars=10_000,
        stop_loss_threshold=0.5,
        take_profit_threshold=0.5,
        volume_multiplier=0.0,
    )
    r = run_backtest(bars, preds, cfg)
    closes = r.trades.loc[r.trades["exit_reason"] == "session_close", "exit_time"].dt.tz_convert("America/New_York")
    assert closes.dt.strftime("%m-%d %H:%M").tolist()[:1] == ["07-03 12:59"]
