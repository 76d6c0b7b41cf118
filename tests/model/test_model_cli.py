"""The train / evaluate / predict / demo commands end to end, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.data import simulate, write_bars

runner = CliRunner()

CONFIG = """[model]
sequence_length = 20
hidden_size = 16
num_layers = 1
num_epochs = 2
learning_rate = 0.003
"""


def test_train_evaluate_predict_commands(tmp_path: Path) -> None:
    data = tmp_path / "bars.parquet"
    write_bars(simulate(["AAA", "BBB"], 6, seed=2, signal=1.0), data)
    cfg = tmp_path / "m.toml"
    cfg.write_text(CONFIG)
    model = tmp_path / "model"
    r = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--symbols",
            "aaa",
            "--config",
            str(cfg),
            "--epochs",
            "1",
            "--seed",
            "5",
            "--out",
            str(model),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "AAA: best epoch 1 of 1" in r.output
    stored = json.loads((model / "AAA" / "meta.json").read_text())
    assert stored["config"]["num_epochs"] == 1 and stored["config"]["seed"] == 5  # options override the file
    assert not (model / "BBB").exists()

    r = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(data), "--json"])
    assert r.exit_code != 0 and "no model for symbol(s) BBB" in r.output  # BBB was not trained

    one = tmp_path / "aaa.csv"
    write_bars(simulate(["AAA"], 6, seed=2, signal=1.0), one)
    r = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(one), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert m["split"] == "test" and m["bars_scored"] > 0
    assert set(m["baseline"]) >= {"direction_accuracy", "direction_accuracy_ci", "magnitude_correlation"}
    assert "ar_baseline" in m and "AAA" in m["per_symbol"]

    r = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(one), "--reports", str(tmp_path / "r")])
    assert r.exit_code == 0 and "persistence" in r.output and "direction accuracy" in r.output
    # train and evaluate each wrote a run folder (train into ./reports, evaluate into --reports)
    train_runs = list(Path("reports").glob("*-train-*"))
    eval_runs = list((tmp_path / "r").glob("*-evaluate-*"))
    assert len(train_runs) == 1 and (train_runs[0] / "history.json").is_file()
    assert len(eval_runs) == 1 and json.loads((eval_runs[0] / "metrics.json").read_text())["model"]["split"] == "test"
    assert f"report: {eval_runs[0] / 'report.html'}" in r.output.replace("\n", "")

    preds = tmp_path / "preds.csv"
    r = runner.invoke(app, ["predict", "--model", str(model), "--data", str(one), "--out", str(preds)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(preds)
    assert list(df.columns) == ["symbol", "timestamp", "predicted_close", "confidence"]
    assert len(df) == 6 * 390 - 38  # every bar from the first full window (19 warm-up + 19 more bars)


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "not found" in r.output
    data = tmp_path / "bars.csv"
    write_bars(simulate(["AAA"], 1, seed=2), data)
    r = runner.invoke(app, ["train", "--data", str(data), "--symbols", "ZZZ", "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "no bars for symbol(s) ZZZ" in r.output
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("[model]\nsequence_length = 0\n")
    r = runner.invoke(app, ["train", "--data", str(data), "--config", str(bad_cfg), "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "sequence_length" in r.output
    r = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "nope"), "--data", str(data)])
    assert r.exit_code == 2 and "model directory not found" in r.output


def test_demo_pipeline_function_and_command(tmp_path: Path) -> None:
    from tradingmodel.config import AppConfig, ModelConfig
    from tradingmodel.services.demo import run_demo

    cfg = AppConfig(model=ModelConfig(sequence_length=20, hidden_size=8, num_layers=1, num_epochs=1))
    r = run_demo(tmp_path / "fn", cfg=cfg, symbols=("AAA", "BBB"), days=3, progress=False)
    assert set(r.bars["symbol"]) == {"AAA", "BBB"} and (r.model_dir / "manifest.json").is_file()
    assert set(r.predictions["symbol"]) == {"AAA", "BBB"} and r.metrics["split"] == "test"
    assert {"simulate_s", "train_s", "evaluate_backtest_s", "report_s"} <= set(r.timings)
    # the backtest trades the unseen test part only, and the run folder holds the report
    test_start = r.predictions.loc[r.predictions["split"] == "test", "timestamp"].min()
    assert len(r.backtest.equity) and r.backtest.equity["timestamp"].min() >= test_start
    assert (r.run_dir / "report.html").is_file() and (r.run_dir / "metrics.json").is_file()

    res = runner.invoke(app, ["demo", "--days", "3", "--out", str(tmp_path / "cmd")])
    assert res.exit_code == 0, res.output
    assert "seq 60" in res.output and "persistence" in res.output and "Backtest" in res.output
    assert "total profit" in res.output and "report: " in res.output
