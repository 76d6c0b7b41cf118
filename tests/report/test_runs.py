"""Run folders: what is written, that it reads back unchanged, atomicity and bad input."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tradingmodel.config import AppConfig
from tradingmodel.report import build_report, load_run, write_run_folder

RUN_ID = re.compile(r"^\d{8}-\d{6}-backtest-[0-9a-f]{6}$")


def test_run_folder_holds_every_file(saved_run: Path) -> None:
    assert RUN_ID.match(saved_run.name)
    names = {p.name for p in saved_run.iterdir()}
    assert names == {
        "run.json",
        "config.toml",
        "metrics.json",
        "trades.csv",
        "equity.parquet",
        "bars.parquet",
        "predictions.parquet",
        "history.json",
        "report.html",
    }
    assert not [p for p in saved_run.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_stored_data_reads_back_unchanged(saved_run: Path, inputs: dict[str, Any]) -> None:
    run = load_run(saved_run)
    assert run.kind == "backtest" and run.run_id == saved_run.name
    metrics = json.loads((saved_run / "metrics.json").read_text())
    assert metrics == {"model": inputs["model_metrics"], "trading": inputs["trading_metrics"]}
    assert run.model_metrics == inputs["model_metrics"]
    assert run.config == inputs["config"]
    assert run.history == inputs["history"]
    assert run.provenance == inputs["provenance"] and run.extra == inputs["extra"]
    for name in ("trades", "equity", "predictions"):
        got, want = getattr(run, name), inputs[name]
        assert list(got.columns) == list(want.columns)
        for col in want.columns:
            g, w = got[col], want[col]
            if isinstance(w.dtype, pd.DatetimeTZDtype):
                assert (g.dt.tz_convert("UTC").astype("int64") == w.astype("datetime64[ns, UTC]").astype("int64")).all()
            elif pd.api.types.is_float_dtype(w.dtype):
                pd.testing.assert_series_equal(g, w, check_names=False)  # exact: csv and parquet keep floats
            else:
                assert g.astype(str).tolist() == w.astype(str).tolist(), (name, col)
    bars = inputs["bars"]
    pd.testing.assert_series_equal(run.bars["close"], bars["close"], check_names=False)
    assert len(run.bars) == len(bars)


def test_trades_csv_is_plain_and_readable(saved_run: Path, inputs: dict[str, Any]) -> None:
    header = (saved_run / "trades.csv").read_text().splitlines()[0]
    assert header.split(",") == list(inputs["trades"].columns)
    df = pd.read_csv(saved_run / "trades.csv")
    assert len(df) == len(inputs["trades"]) and df["pnl"].sum() == pytest.approx(inputs["trades"]["pnl"].sum())


@pytest.mark.parametrize("run", ["saved_run", pytest.param("pipeline_run", marks=pytest.mark.slow)])
def test_rebuilt_report_equals_the_original(run: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    saved_run: Path = request.getfixturevalue(run)
    original = (saved_run / "report.html").read_bytes()
    copy = tmp_path / "moved" / saved_run.name
    shutil.copytree(saved_run, copy)
    (copy / "report.html").unlink()
    assert build_report(copy).read_bytes() == original
    assert build_report(copy).read_bytes() == original  # and again


def test_train_run_without_trading(tmp_path: Path, inputs: dict[str, Any]) -> None:
    d = write_run_folder(
        "train",
        root=tmp_path,
        config=AppConfig(),
        provenance={"source": "x.parquet"},
        model_metrics=inputs["model_metrics"],
        history=inputs["history"],
    )
    assert (d / "trades.csv").read_text().strip() == ",".join(inputs["trades"].columns)
    run = load_run(d)
    assert run.trades is not None and run.trades.empty and run.equity is None
    html = (d / "report.html").read_text()
    assert 'id="chart-loss"' in html and 'id="chart-equity"' not in html


def test_empty_run_still_makes_a_report(tmp_path: Path) -> None:
    d = write_run_folder("demo", root=tmp_path, config=None, provenance={})
    assert "holds no metrics" in (d / "report.html").read_text()
    assert load_run(d).config is None


def test_non_finite_metrics_survive(tmp_path: Path) -> None:
    d = write_run_folder(
        "evaluate",
        root=tmp_path,
        config=None,
        provenance={},
        trading_metrics={"profit_factor": math.inf, "sharpe_ratio": math.nan},
    )
    tm = load_run(d).trading_metrics
    assert tm["profit_factor"] == math.inf and math.isnan(tm["sharpe_ratio"])


@pytest.mark.parametrize("symbol", ["NA", "NULL", "N/A"])
def test_tickers_that_look_like_missing_values_read_back(tmp_path: Path, symbol: str) -> None:
    # NA is a real ticker (Nano Labs, Nasdaq); pandas reads it from a CSV as missing by default
    t = pd.Timestamp("2024-01-02 14:31", tz="UTC")
    trades = pd.DataFrame(
        {
            "symbol": [symbol],
            "side": ["long"],
            "entry_time": [t],
            "entry_price": [1.0],
            "exit_time": [pd.NaT],
            "exit_price": [math.nan],
            "quantity": [1.0],
            "pnl": [math.nan],
            "return_pct": [math.nan],
            "commission": [0.0],
            "exit_reason": [None],
        }
    )
    d = write_run_folder("backtest", root=tmp_path, config=None, provenance={}, trades=trades)
    got = load_run(d).trades
    assert list(got["symbol"]) == [symbol] and list(got["side"]) == ["long"]
    assert got["exit_time"].isna().all() and got["pnl"].isna().all() and got["exit_reason"].isna().all()


def test_crash_while_writing_leaves_nothing(
    tmp_path: Path, inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradingmodel.report.html as report_html

    def crash(run_dir: Path) -> Path:
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_html, "build_report", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_run_folder("backtest", root=tmp_path, **inputs)
    assert list(tmp_path.iterdir()) == []


def _bad(inputs: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {**inputs, **change}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: {"trades": i["trades"].drop(columns=["exit_price"])}, r"trades: missing column\(s\) exit_price"),
        (
            lambda i: {
                "equity": i["equity"].assign(
                    timestamp=i["equity"]["timestamp"].astype(str).where(i["equity"].index != 7, "yesterday")
                )
            },
            r"equity: row 7: column timestamp: not a timestamp \('yesterday'\)",
        ),
        (
            lambda i: {
                "predictions": i["predictions"].assign(
                    predicted_close=i["predictions"]["predicted_close"]
                    .astype(object)
                    .where(i["predictions"].index != 3, "abc")
                )
            },
            r"predictions: row 3: column predicted_close: not a number \('abc'\)",
        ),
        (lambda i: {"bars": i["bars"].drop(columns=["close"])}, r"bars: missing column\(s\) close"),
        (
            lambda i: {"history": {"pooled": [{"epoch": 0, "train_loss": 1.0}]}},
            r"history\['pooled'\] record 0: missing val_loss",
        ),
        (lambda i: {"provenance": {"when": object()}}, r"provenance/extra: value of type object"),
        (lambda i: {"trades": [1, 2]}, r"trades: expected a pandas DataFrame"),
    ],
)
def test_bad_input_names_the_problem_and_writes_nothing(
    tmp_path: Path, inputs: dict[str, Any], change: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_run_folder("backtest", root=tmp_path, **_bad(inputs, **change(inputs)))
    assert list(tmp_path.iterdir()) == []


def test_bad_kind_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run kind 'Back test'"):
        write_run_folder("Back test", root=tmp_path, config=None, provenance={})
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_run(tmp_path)


def test_corrupt_trades_csv_is_named(saved_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "r"
    shutil.copytree(saved_run, copy)
    lines = (copy / "trades.csv").read_text().splitlines()
    cells = lines[2].split(",")
    cells[3] = "twelve"  # entry_price of data row 1
    lines[2] = ",".join(cells)
    (copy / "trades.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"trades.csv: row 1: column entry_price: not a number \('twelve'\)"):
        build_report(copy)
    assert (copy / "report.html").read_bytes() == (saved_run / "report.html").read_bytes()  # old one kept
