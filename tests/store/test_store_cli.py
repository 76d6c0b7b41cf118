"""``tradingmodel import`` and ``tradingmodel db …`` through the real CLI app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.data import read_bar_file, simulate, write_bars
from tradingmodel.store import get_engine, load_bars
from tradingmodel.store.engine import head_revision

runner = CliRunner()


@pytest.fixture
def bar_file(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    write_bars(simulate(["AAA", "BBB"], 1), path)
    return path


def test_import_twice_then_corrected(db_url: str, bar_file: Path, tmp_path: Path) -> None:
    first = runner.invoke(app, ["import", str(bar_file), "--url", db_url, "-q"])
    assert first.exit_code == 0, first.output
    assert "780 inserted, 0 updated, 0 unchanged" in " ".join(first.output.split())
    again = runner.invoke(app, ["import", str(bar_file), "--url", db_url, "-q"])
    assert "0 inserted, 0 updated, 780 unchanged" in " ".join(again.output.split())
    bars = read_bar_file(bar_file)
    bars.loc[4, "volume"] += 1
    fixed = tmp_path / "fixed.csv"
    write_bars(bars, fixed)
    third = runner.invoke(app, ["import", str(fixed), "--url", db_url, "-q"])
    assert "0 inserted, 1 updated, 779 unchanged" in " ".join(third.output.split())
    assert len(load_bars(get_engine(db_url), ["AAA", "BBB"])) == 780


def test_import_errors_are_one_line(db_url: str, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["import", str(tmp_path / "nope.csv"), "--url", db_url])
    assert missing.exit_code == 2 and "bars file not found" in missing.output
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,timestamp,open,high,low,close,volume\nAAA,2024-01-02T14:30:00Z,10,9,9.5,9.7,100\n")
    result = runner.invoke(app, ["import", str(bad), "--url", db_url])
    assert result.exit_code == 2 and "row 1" in result.output and "Traceback" not in result.output
    good = tmp_path / "good.csv"  # a file that imports fine: only the timeframe is wrong
    write_bars(simulate(["AAA"], 1), good)
    tf = runner.invoke(app, ["import", str(good), "--url", db_url, "--timeframe", "minute"])
    assert tf.exit_code == 2 and "Traceback" not in tf.output
    assert len(tf.output.strip().splitlines()) == 1 and "timeframe 'minute'" in tf.output
    assert load_bars(get_engine(db_url), ["AAA"]).empty  # nothing stored
    assert runner.invoke(app, ["import", str(good), "--url", db_url, "-q"]).exit_code == 0  # the file was fine


def test_db_commands(fresh_url: str, bar_file: Path) -> None:
    head = head_revision()
    assert head == "0003"  # the newest migration in store/migrations/versions
    up = runner.invoke(app, ["db", "upgrade", "--url", fresh_url])
    assert up.exit_code == 0 and f"revision {head}" in up.output, up.output
    assert f"revision {head}; code head {head}" in runner.invoke(app, ["db", "current", "--url", fresh_url]).output
    runner.invoke(app, ["import", str(bar_file), "--url", fresh_url, "-q"])
    symbols = runner.invoke(app, ["db", "symbols", "--url", fresh_url]).output
    assert "AAA: 390 bars, 2024-01-02T14:30:00+00:00 .. 2024-01-02T20:59:00+00:00" in symbols
    refused = runner.invoke(app, ["db", "downgrade", "base", "--url", fresh_url])
    assert refused.exit_code == 2 and "--yes" in refused.output
    down = runner.invoke(app, ["db", "downgrade", "base", "--url", fresh_url, "--yes"])
    assert down.exit_code == 0 and "base (empty)" in down.output
