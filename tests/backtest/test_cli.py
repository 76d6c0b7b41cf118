"""``tradingmodel backtest`` end to end: files in, metrics / trades out, clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.data import simulate
from tradingmodel.data.bars import write_bars

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    d = tmp_path_factory.mktemp("bt")
    bars = simulate(["AAA", "BBB"], 2, seed=3)
    write_bars(bars, d / "bars.csv")
    rng = np.random.default_rng(0)
    preds = pd.DataFrame(
        {
            "symbol": bars["symbol"],
            "timestamp": bars["timestamp"],
            "predicted_close": bars["close"] * (1 + 0.002 * rng.standard_normal(len(bars))),
        }
    )
    preds.to_csv(d / "preds.csv", index=False)
    return d / "bars.csv", d / "preds.csv", preds


def invoke(*args: str):
    return runner.invoke(app, ["backtest", *args])


def test_json_metrics_and_trades_file(files, tmp_path):
    bars, preds, _ = files
    out = tmp_path / "trades.csv"
    r = invoke(
        "--data",
        str(bars),
        "--predictions",
        str(preds),
        "--threshold-unit",
        "sigma",
        "--buy-threshold",
        "1",
        "--sell-threshold",
        "1",
        "--json",
        "--trades-out",
        str(out),
        "--deposit",
        "20000",
    )
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["deposit"] == 20_000.0 and m["total_trades"] > 0
    trades = pd.read_csv(out)
    assert len(trades) == m["total_trades"]
    assert trades["pnl"].sum() == pytest.approx(m["total_profit"], abs=1e-6)
    # the percent default (1.5%) finds no one-minute move that large: no trades
    r = invoke("--data", str(bars), "--predictions", str(preds), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total_trades"] == 0


def test_human_summary(files):
    bars, preds, _ = files
    r = invoke("--data", str(bars), "--predictions", str(preds), "--threshold-unit", "sigma")
    assert r.exit_code == 0, r.output
    assert "total profit" in r.stdout and "buy and hold" in r.stdout and "max drawdown" in r.stdout


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # rows are data rows counted from 1, as in bar files: frame index 4 is the file's row 5
        (lambda p: p.assign(symbol=p["symbol"].where(p.index != 4, "ZZZ")), "row 5: symbol 'ZZZ' is not in the bars"),
        (
            lambda p: p.assign(timestamp=p["timestamp"].where(p.index != 6, p["timestamp"] + pd.Timedelta(seconds=30))),
            "row 7: no AAA bar at",
        ),
        (
            lambda p: p.assign(predicted_close=p["predicted_close"].where(p.index != 2, np.nan)),
            "row 3: predicted_close = nan",
        ),
        (lambda p: p.drop(columns="predicted_close"), "missing column(s) predicted_close"),
    ],
)
def test_bad_predictions_file(files, tmp_path, edit, message):
    bars, _, preds = files
    bad = tmp_path / "bad.csv"
    edit(preds).to_csv(bad, index=False)
    r = invoke("--data", str(bars), "--predictions", str(bad))
    assert r.exit_code == 2
    assert message in r.stderr and str(bad) in r.stderr


def test_argument_errors(files, tmp_path):
    bars, preds, _ = files
    r = invoke("--data", str(bars))
    assert r.exit_code == 2 and "exactly one of --model" in r.stderr
    r = invoke("--data", str(bars), "--predictions", str(tmp_path / "none.csv"))
    assert r.exit_code == 2 and "predictions file not found" in r.stderr
    r = invoke("--data", str(bars), "--predictions", str(preds), "--deposit", "-5")
    assert r.exit_code == 2 and "deposit" in r.stderr


def test_model_option_equals_its_predictions_file(files, tmp_path):
    """--model DIR backtests the model's own predictions: same metrics as passing them as a file."""
    from tradingmodel.config import ModelConfig
    from tradingmodel.data import read_bar_file
    from tradingmodel.model import predict, train

    bars_path, _, _ = files
    bars = read_bar_file(bars_path)
    cfg = ModelConfig(sequence_length=10, hidden_size=8, num_layers=1, num_epochs=1, batch_size=128)
    train(bars, cfg, tmp_path / "model", progress=False)
    preds = predict(tmp_path / "model", bars)
    preds[["symbol", "timestamp", "predicted_close"]].to_parquet(tmp_path / "preds.parquet")
    common = (
        "--data",
        str(bars_path),
        "--threshold-unit",
        "sigma",
        "--buy-threshold",
        "0.2",
        "--sell-threshold",
        "0.2",
        "--json",
    )
    by_model = invoke(*common, "--model", str(tmp_path / "model"), "--split", "whole")
    by_file = invoke(*common, "--predictions", str(tmp_path / "preds.parquet"))
    assert by_model.exit_code == 0, by_model.output
    assert by_file.exit_code == 0, by_file.output
    m_model, m_file = json.loads(by_model.stdout), json.loads(by_file.stdout)
    # the same trades and figures; only what is known about the predictions differs: --model knows the
    # split (the whole file is in-sample here), a file written without `predict` has no model record
    assert m_model["in_sample"]["verdict"] == "partly in-sample" and m_model["in_sample"]["overlap_bars"] > 0
    assert m_file["in_sample"]["verdict"] == "unknown" and "no model record" in m_file["in_sample"]["warning"]
    assert m_model.pop("ar_baseline")["total_trades"] >= 0
    for m in (m_model, m_file):
        m.pop("in_sample")
        m["largest_predicted_move"].pop("predictions")  # the file also predicts after each symbol's last bar
        m["notes"] = m["notes"][1:]  # the in-sample warning comes first
    assert m_model == m_file
    assert m_model["total_trades"] > 0
    # by default (the model's own training data) only the unseen test part is traded
    auto = invoke(*common, "--model", str(tmp_path / "model"), "--trades-out", str(tmp_path / "t.csv"))
    assert auto.exit_code == 0, auto.output
    from tradingmodel.model import evaluate

    _, frame = evaluate(tmp_path / "model", bars, return_frame=True)
    test_start = frame.loc[frame["split"] == "test", "timestamp"].min()
    trades = pd.read_csv(tmp_path / "t.csv", parse_dates=["entry_time"])
    assert json.loads(auto.stdout)["total_trades"] == len(trades) > 0  # 6 here: the check below is not vacuous
    assert (pd.to_datetime(trades["entry_time"], utc=True) > test_start).all()


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory) -> tuple[Path, Path]:
    """A tiny model trained on the bars file, and `predict`'s output for those same bars."""
    from tradingmodel.config import ModelConfig
    from tradingmodel.data import read_bar_file
    from tradingmodel.model import train

    d = tmp_path_factory.mktemp("trained")
    bars_path = files[0]
    cfg = ModelConfig(sequence_length=10, hidden_size=8, num_layers=1, num_epochs=1, batch_size=128)
    train(read_bar_file(bars_path), cfg, d / "model", progress=False)
    r = runner.invoke(
        app, ["predict", "--model", str(d / "model"), "--data", str(bars_path), "--out", str(d / "preds.csv")]
    )
    assert r.exit_code == 0, r.output
    return d / "model", d / "preds.csv"


def _run_folder(reports: Path) -> Path:
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    return run


def test_predictions_on_the_training_data_are_called_in_sample(files, trained, tmp_path):
    """`predict` on the model's own training data, then a backtest of that file: in-sample, and said so
    in the terminal, in metrics.json and in the report's banner."""
    model, preds = trained
    record = json.loads((preds.parent / "preds.csv.model.json").read_text())
    assert set(record["symbols"]) == {"AAA", "BBB"} and record["symbols"]["AAA"]["training_period"]
    r = invoke(
        "--data", str(files[0]), "--predictions", str(preds), "--threshold-unit", "sigma", "--reports", str(tmp_path)
    )
    assert r.exit_code == 0, r.output
    assert "warning: overlaps the training period by" in " ".join(r.stderr.split())
    assert "not out-of-sample evidence" in " ".join(r.stdout.split())
    run = _run_folder(tmp_path)
    check = json.loads((run / "metrics.json").read_text())["trading"]["in_sample"]
    assert check["verdict"] == "partly in-sample" and check["overlap_bars"] > 0.5 * check["predicted_bars"]
    page = (run / "report.html").read_text()
    assert 'class="banner in-sample"' in page and "overlaps the training period by" in page


def test_whole_split_and_changed_data_are_called_in_sample(files, trained, tmp_path):
    model, _ = trained
    common = ("--data", str(files[0]), "--model", str(model), "--threshold-unit", "sigma", "--json", "--no-report")
    whole = invoke(*common, "--split", "whole")
    assert whole.exit_code == 0, whole.output
    assert json.loads(whole.stdout)["in_sample"]["verdict"] == "partly in-sample"
    assert "overlaps the training period" in " ".join(whole.stderr.split())
    auto = invoke(*common)  # the model's own data: its unseen test part only
    assert json.loads(auto.stdout)["in_sample"] == {
        **json.loads(auto.stdout)["in_sample"],
        "verdict": "out-of-sample",
        "overlap_bars": 0,
        "warning": None,
    }
    # bars whose hash no longer matches the checkpoint (here: a bar changed) are scored whole: in-sample too
    bars = pd.read_csv(files[0])
    bars.loc[len(bars) - 1, "volume"] += 1
    changed = tmp_path / "changed.csv"
    bars.to_csv(changed, index=False)
    r = invoke("--data", str(changed), *common[2:])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["in_sample"]["overlap_bars"] > 0
    assert "overlaps the training period" in " ".join(r.stderr.split())


def test_no_trade_says_why_with_the_largest_predicted_move(files, tmp_path):
    bars, preds, frame = files
    calm = frame.assign(
        predicted_close=pd.read_csv(bars)["close"]
        * (1 + 0.3 * (frame["predicted_close"] / pd.read_csv(bars)["close"] - 1))
    )
    calm.to_csv(tmp_path / "calm.csv", index=False)
    r = invoke("--data", str(bars), "--predictions", str(tmp_path / "calm.csv"), "--no-report")  # 1.5 / 0.66 %
    assert r.exit_code == 0, r.output
    rise = (calm["predicted_close"] / pd.read_csv(bars)["close"] - 1).max() * 100
    text = " ".join(r.stdout.split())
    assert "no trade: no prediction cleared a threshold (largest predicted rise" in text
    assert "against the buy threshold 1.5%" in text and "against the sell threshold 0.66%" in text
    assert "win rate" in r.stdout and "n/a" in r.stdout.split("win rate", 1)[1].splitlines()[0]
    m = json.loads(
        invoke("--data", str(bars), "--predictions", str(tmp_path / "calm.csv"), "--json", "--no-report").stdout
    )
    assert m["win_rate"] is None and m["profit_factor"] is None
    assert m["largest_predicted_move"]["rise"] == pytest.approx(rise, rel=1e-9) and rise < 1.5
    assert "no model record" in m["notes"][0]  # a file not written by `predict`: cannot tell
    # predictions that do clear a threshold but are all refused by the other rules are told apart
    m = json.loads(invoke("--data", str(bars), "--predictions", str(preds), "--json", "--no-report").stdout)
    assert m["total_trades"] == 0 and "no trade although predictions cleared a threshold" in m["notes"][-1]


def test_predictions_of_left_out_bars_and_symbols_are_left_out_too(files, tmp_path):
    """A predictions file covering every bar of a file with after-hours bars, and a multi-symbol file with
    --symbols: the predictions of the bars left out go with them."""
    bars_path, _, preds = files
    bars = pd.read_csv(bars_path)
    late = (
        bars.groupby("symbol")
        .tail(1)
        .assign(
            timestamp=lambda b: (pd.to_datetime(b["timestamp"]) + pd.Timedelta(hours=1)).map(lambda t: t.isoformat())
        )
    )
    extended = tmp_path / "extended.csv"
    pd.concat([bars, late]).to_csv(extended, index=False)
    every = pd.concat(
        [
            preds.assign(timestamp=preds["timestamp"].map(lambda t: t.isoformat())),
            late[["symbol", "timestamp"]].assign(predicted_close=late["close"]),
        ]
    )
    every.to_csv(tmp_path / "every.csv", index=False)
    r = invoke("--data", str(extended), "--predictions", str(tmp_path / "every.csv"), "--no-report")
    assert r.exit_code == 0, r.output
    notes = " ".join(r.stderr.split())
    assert "left out 2 bars outside regular hours" in notes
    assert "every.csv: left out 2 predictions outside regular hours" in notes
    r = invoke(
        "--data",
        str(bars_path),
        "--predictions",
        str(tmp_path / "every.csv"),
        "--symbols",
        "bbb",
        "--json",
        "--no-report",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["symbols"] == ["BBB"]


def test_trades_csv_times_are_iso_8601_like_bar_files(files, tmp_path):
    bars, preds, _ = files
    r = invoke(
        "--data",
        str(bars),
        "--predictions",
        str(preds),
        "--threshold-unit",
        "sigma",
        "--buy-threshold",
        "1",
        "--sell-threshold",
        "1",
        "--trades-out",
        str(tmp_path / "t.csv"),
        "--reports",
        str(tmp_path / "r"),
    )
    assert r.exit_code == 0, r.output
    first_bar_time = pd.read_csv(bars)["timestamp"].iloc[0]
    assert first_bar_time == "2024-01-02T14:30:00+00:00"
    for path in (tmp_path / "t.csv", _run_folder(tmp_path / "r") / "trades.csv"):
        t = pd.read_csv(path, dtype=str)
        assert len(t) > 0
        pattern = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$"
        assert t["entry_time"].str.match(pattern).all() and t["exit_time"].str.match(pattern).all(), t.iloc[0]
