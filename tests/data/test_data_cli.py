"""CLI: simulate, features and validate-bars through the real app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner, Result

from tradingmodel.cli import app
from tradingmodel.data import read_bar_file, simulate
from tradingmodel.features import compute_features

runner = CliRunner()


def _text(r: Result) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(r.output.split())


def test_simulate_then_features(tmp_path: Path) -> None:
    bars_path, feats_path = tmp_path / "bars.parquet", tmp_path / "feats.csv"
    r = runner.invoke(
        app,
        ["simulate", "--symbols", "aaa,BBB", "--days", "2", "--seed", "9", "--signal", "0.5", "--out", str(bars_path)],
    )
    assert r.exit_code == 0, r.output
    assert "1,560 bars" in _text(r)
    bars = read_bar_file(bars_path)
    pd.testing.assert_frame_equal(bars, simulate(["AAA", "BBB"], 2, seed=9, signal=0.5))

    r = runner.invoke(app, ["features", "--data", str(bars_path), "--out", str(feats_path)])
    assert r.exit_code == 0, r.output
    feats = pd.read_csv(feats_path)
    expected = compute_features(bars)
    assert list(feats.columns) == list(expected.columns)
    np.testing.assert_array_equal(feats["rsi14"].to_numpy(), expected["rsi14"].to_numpy())

    r = runner.invoke(app, ["validate-bars", "--data", str(bars_path)])
    assert r.exit_code == 0 and "valid, 1,560 bars" in _text(r)


def test_null_mode_and_user_errors(tmp_path: Path) -> None:
    out = tmp_path / "null.csv"
    r = runner.invoke(app, ["simulate", "--symbols", "X", "--days", "1", "--null", "--out", str(out)])
    assert r.exit_code == 0 and "null" in _text(r)
    r = runner.invoke(
        app,
        ["simulate", "--symbols", "X", "--days", "1", "--null", "--signal", "0.2", "--out", str(tmp_path / "x.csv")],
    )
    assert r.exit_code == 2 and "exclude each other" in _text(r)
    r = runner.invoke(
        app, ["simulate", "--symbols", "X", "--days", "1", "--signal", "3", "--out", str(tmp_path / "x.csv")]
    )
    assert r.exit_code == 2 and "signal must be between 0 and 1" in _text(r)
    assert not (tmp_path / "x.csv").exists()

    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,timestamp,open,high,low,close,volume\nX,2024-01-02T14:30:00Z,1,0.5,1,1,1\n")
    for cmd in ("features", "validate-bars"):
        args = [cmd, "--data", str(bad)] + (["--out", str(tmp_path / "f.csv")] if cmd == "features" else [])
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        assert "row 1: high 0.5 is below low 1.0" in _text(r)
    assert not (tmp_path / "f.csv").exists()
