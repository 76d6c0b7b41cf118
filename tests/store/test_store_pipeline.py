"""``train``, ``evaluate`` and ``backtest`` reading bars from the database (``--symbols --from --to``)
give the same results as reading the same bars from a file, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.data import simulate, write_bars

runner = CliRunner()

TINY = "[model]\nsequence_length = 20\nhidden_size = 8\nnum_layers = 1\nnum_epochs = 1\n"
TRADE = ("--threshold-unit", "sigma", "--buy-threshold", "0.2", "--sell-threshold", "0.2")


def run(*args: str) -> str:
    r = runner.invoke(app, [*args])
    assert r.exit_code == 0, r.output
    return r.stdout


def test_database_source_equals_file_source(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    bars = simulate(["AAA", "BBB", "CCC"], 4, seed=3, signal=1.0)
    everything = tmp_path / "all.parquet"
    write_bars(bars, everything)
    run("import", str(everything), "-q")
    # the file a user would have for the same selection: AAA and BBB, 2024-01-03 .. 2024-01-05 (New York dates)
    chosen = bars[bars["symbol"].isin(["AAA", "BBB"]) & (bars["timestamp"] >= "2024-01-03")]
    part = tmp_path / "part.parquet"
    write_bars(chosen, part)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    db = ("--symbols", "AAA,BBB", "--from", "2024-01-03", "--to", "2024-01-05")

    run("train", *db, "--config", str(cfg), "--out", str(tmp_path / "m"), "--no-progress", "--no-report")
    by_db = json.loads(run("evaluate", "--model", str(tmp_path / "m"), *db, "--json", "--no-report"))
    by_file = json.loads(run("evaluate", "--model", str(tmp_path / "m"), "--data", str(part), "--json", "--no-report"))
    assert by_db["split"] == "test"  # the database bars hash to the training data
    assert by_db == by_file
    bt_db = json.loads(run("backtest", "--model", str(tmp_path / "m"), *db, *TRADE, "--json", "--no-report"))
    bt_file = json.loads(
        run("backtest", "--model", str(tmp_path / "m"), "--data", str(part), *TRADE, "--json", "--no-report")
    )
    assert bt_db == bt_file

    r = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "m"), "--symbols", "ZZZ", "--json"])
    assert r.exit_code == 2 and "unknown symbol(s) ZZZ" in r.output
    r = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "m"), "--data", str(part), "--from", "2024-01-03"])
    assert r.exit_code == 2 and "--from/--to select bars in the database" in r.output
