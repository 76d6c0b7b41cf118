"""``services.records.record_run``: a run's folder and its database rows come from one call, and a row that
cannot be written leaves no folder behind (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.report.conftest import run_inputs
from tradingmodel.report import load_run
from tradingmodel.report.runs import RunOutputs
from tradingmodel.services.records import ModelEntry, record_run
from tradingmodel.store import StoreError, list_models, list_runs


def _outputs(inputs: dict) -> RunOutputs:
    return RunOutputs(**{k: v for k, v in inputs.items() if k not in ("config", "provenance")})


def test_a_backtest_gets_its_folder_and_its_runs_row_in_one_call(engine: Engine, tmp_path: Path) -> None:
    inputs = run_inputs(days=2)
    rec = record_run(
        "backtest",
        config=inputs["config"],
        provenance=inputs["provenance"],
        outputs=_outputs(inputs),
        reports=tmp_path,
        engine=engine,
    )
    assert rec.rows == ["runs"] and rec.run_dir is not None
    (row,) = list_runs(engine)
    assert row["id"] == rec.run_id and row["kind"] == "backtest"
    assert row["notes"] == f"run folder {rec.run_dir}"  # the row names its folder
    assert row["metrics"]["total_trades"] == inputs["trading_metrics"]["total_trades"]
    assert row["symbols"] == ["AAPL", "MSFT"]
    folder = load_run(rec.run_dir)
    assert folder.trading_metrics == inputs["trading_metrics"] and len(folder.trades) == len(inputs["trades"])


def test_rows_that_fail_remove_the_folder_and_write_nothing(engine: Engine, tmp_path: Path) -> None:
    inputs = run_inputs(days=2)
    model = ModelEntry(tmp_path / "model", "m", {"direction_accuracy": 50.0}, ["AAPL"])
    with pytest.raises(StoreError, match="timeframe"):
        record_run(
            "backtest",
            config=inputs["config"],
            provenance=inputs["provenance"],
            outputs=_outputs(inputs),
            reports=tmp_path / "reports",
            engine=engine,
            model=model,  # inserted first, then the runs row fails on its timeframe
            timeframe="1q",
        )
    assert list(Path(tmp_path / "reports").iterdir()) == []  # the folder was written, then removed
    assert list_runs(engine) == [] and list_models(engine) == []  # the model row was rolled back
