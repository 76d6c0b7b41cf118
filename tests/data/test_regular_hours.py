"""Bars outside US regular hours (Polygon serves 04:00-20:00 New York) are left out before modelling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.cli.common import load_bars
from tradingmodel.data import regular_hours, regular_hours_mask, simulate, write_bars


def test_mask_follows_new_york_time_across_dst() -> None:
    ts = pd.to_datetime([
        "2024-01-02T14:29:00Z",  # 09:29 EST: pre-market
        "2024-01-02T14:30:00Z",  # 09:30 EST: first regular bar
        "2024-01-02T20:59:00Z",  # 15:59 EST: last regular bar
        "2024-01-02T21:00:00Z",  # 16:00 EST: after-market
        "2024-07-01T13:30:00Z",  # 09:30 EDT
        "2024-07-01T14:29:00Z",  # 10:29 EDT
        "2024-07-01T20:00:00Z",  # 16:00 EDT: after-market
        "2024-01-06T15:00:00Z",  # a Saturday
    ], utc=True)
    assert regular_hours_mask(ts).tolist() == [False, True, True, False, True, True, False, False]


def test_simulated_bars_are_all_regular_and_extended_bars_are_dropped(tmp_path: Path) -> None:
    bars = simulate(["AAA"], 2, seed=1)
    assert regular_hours(bars) is bars
    late = bars.iloc[[-1]].assign(timestamp=bars["timestamp"].iloc[-1] + pd.Timedelta(minutes=30))
    extended = pd.concat([bars, late], ignore_index=True)
    path = tmp_path / "ext.csv"
    write_bars(extended, path)
    loaded, _ = load_bars(path)
    assert len(loaded) == len(bars) and loaded["timestamp"].max() == bars["timestamp"].max()


def test_daily_bars_are_kept_and_cli_reports_the_drop(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-02", periods=30, freq="B", tz="UTC") + pd.Timedelta(hours=5)
    daily = pd.DataFrame({"symbol": "AAA", "timestamp": days, "open": 10.0, "high": 11.0, "low": 9.0,
                          "close": 10.5, "volume": 1000.0})
    path = tmp_path / "daily.csv"
    write_bars(daily, path)
    assert len(load_bars(path)[0]) == 30
    only_night = simulate(["AAA"], 1, seed=1).assign(
        timestamp=lambda b: b["timestamp"] + pd.Timedelta(hours=8))  # 17:30-00:29 New York
    night = tmp_path / "night.csv"
    write_bars(only_night, night)
    r = CliRunner().invoke(app, ["predict", "--model", str(tmp_path), "--data", str(night), "--out", "p.csv"])
    assert r.exit_code == 2 and "no bar inside US regular hours" in r.output
