"""The driver's database record of a walk-forward run, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.store.conftest import db_url, pg_databases, pg_session_url  # noqa: F401 - fixtures
from tradingmodel.cli import app
from tradingmodel.store import StoreError, get_engine, list_runs
from tradingmodel.store.sql import json_safe
from tradingmodel.store.walkforward import get_walkforward_run
from tradingmodel.walkforward.record import bar_timeframe, record_walkforward

from .conftest import app_config


def test_run_is_recorded_with_params_and_every_figure(serial_run, holed_bars, db_url) -> None:  # noqa: F811
    engine = get_engine(db_url)
    s = serial_run.summary
    params = {"executor": "serial", "workers": None, "seed": 5, "epochs": 2}
    run_id = record_walkforward(engine, s, holed_bars, app_config(), params, name="wf-test-1", source="test bars")
    row = get_walkforward_run(engine, "wf-test-1")
    assert row is not None and row["id"] == run_id and row["kind"] == "walkforward"
    assert row["status"] == "partial"  # two tasks failed; the others' figures are stored
    assert row["params"]["executor"] == "serial" and row["params"]["source"] == "test bars"
    assert row["params"]["spec"] == {**s["spec"]}
    want = json.loads(json.dumps(json_safe({k: v for k, v in s.items() if k != "spec"})))
    assert row["metrics"] == want  # per fold, pooled, stitched, significance, words, tasks, failures
    assert [f["fold"] for f in row["metrics"]["folds"]] == [0, 1, 2]
    assert (
        row["metrics"]["significance"]["dm_vs_persistence"]["verdict"]
        == s["significance"]["dm_vs_persistence"]["verdict"]
    )
    assert row["symbols"] == ["AAA", "BBB"] and row["timeframe"] == "15m"
    assert row["data_start"] == holed_bars["timestamp"].min().to_pydatetime()
    assert "sequence_length = 8" in row["config_toml"]
    assert [r["id"] for r in list_runs(engine, kind="walkforward")] == [run_id]
    with pytest.raises(StoreError, match="a run named 'wf-test-1' is already stored"):
        record_walkforward(engine, s, holed_bars, app_config(), params, name="wf-test-1", source="test bars")


def test_bar_timeframe_reads_the_spacing(holed_bars) -> None:
    assert bar_timeframe(holed_bars) == "15m"
    t0 = holed_bars["timestamp"].iloc[0]
    daily = holed_bars.iloc[:4].assign(timestamp=[t0 + pd.Timedelta(days=d) for d in (0, 1, 2, 5)])
    assert bar_timeframe(daily) == "1d"  # the median gap: a weekend does not change it


def test_a_bad_database_url_fails_before_any_training(small_bars, tmp_path) -> None:
    data = tmp_path / "bars.parquet"
    small_bars.to_parquet(data)
    args = ["walkforward", "--data", str(data), "--train-days", "14", "--test-days", "7", "--executor", "serial"]
    res = CliRunner().invoke(app, [*args, "--db", "mysql://u@h/db", "--no-report"])
    assert res.exit_code == 2 and "mysql is not supported" in res.stderr, res.output
    assert "folds" not in res.output and not Path("models").exists()  # nothing trained, nothing written
