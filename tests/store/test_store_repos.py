"""Repositories: model registry, predictions, training jobs, runs, orders, fills, positions, fetch ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from tradingmodel.config import AppConfig, config_to_toml
from tradingmodel.store import (
    StoreError,
    fetched_ranges,
    finish_run,
    list_fills,
    list_models,
    list_orders,
    list_positions,
    list_predictions,
    list_runs,
    list_training_jobs,
    mark_fetched,
    save_fill,
    save_model,
    save_order,
    save_position,
    save_predictions,
    save_run_row,
    save_training_job,
    update_order,
    update_training_job,
)

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def test_model_registry(engine: Engine) -> None:
    a = save_model(
        engine,
        "lstm",
        "models/a.pt",
        {"mae": 0.12, "sharpe": float("nan"), "n": np.int64(5)},
        symbols=["AAA"],
        config_toml="[model]\n",
        data_hash="abc",
    )
    b = save_model(engine, "lstm", "models/b.pt", {"mae": 0.10})
    first = list_models(engine)[1]
    assert first["symbols"] == ["AAA"] and first["metrics"] == {"mae": 0.12, "sharpe": None, "n": 5}
    assert first["data_hash"] == "abc" and first["created_at"].tzinfo is not None
    assert save_model(engine, "lstm-v2", "models/a.pt", {"mae": 0.11}) == a  # same checkpoint: updated
    models = list_models(engine)
    assert [m["id"] for m in models] == [b, a]  # newest first
    assert models[1]["name"] == "lstm-v2" and models[1]["metrics"] == {"mae": 0.11}
    assert models[1]["symbols"] == [] and models[1]["data_hash"] is None  # the whole entry is replaced


def test_metrics_with_nan_are_stored_as_null(engine: Engine) -> None:
    run = save_run_row(
        engine,
        "backtest",
        config_to_toml(AppConfig()),
        {"sharpe": float("nan"), "trades": 0, "per_symbol": {"AAA": [1.5, float("inf")]}},
        "hash1",
    )
    assert list_runs(engine)[0]["metrics"] == {"sharpe": None, "trades": 0, "per_symbol": {"AAA": [1.5, None]}}
    assert list_runs(engine)[0]["id"] == run


def test_predictions_are_idempotent(engine: Engine) -> None:
    model = save_model(engine, "lstm", "m.pt", {})
    ts = pd.date_range(T0, periods=5, freq="1min")
    preds = pd.DataFrame(
        {
            "symbol": ["AAA"] * 5,
            "timestamp": ts,
            "predicted_close": [1.0, 2, 3, 4, 5],
            "confidence": [0.5, np.nan, 0.7, 0.8, 0.9],
        }
    )
    assert save_predictions(engine, model, preds) == 5
    preds["predicted_close"] += 10
    save_predictions(engine, model, preds)  # re-saving replaces, never duplicates
    got = list_predictions(engine, "AAA", model_id=model)
    assert got["predicted_close"].tolist() == [11.0, 12, 13, 14, 15]
    assert np.isnan(got["confidence"].iloc[1]) and got["timestamp"].iloc[0] == T0
    assert len(list_predictions(engine, "AAA", start=ts[1], end=ts[3])) == 2
    with pytest.raises(StoreError, match="row 3: predicted_close is nan"):
        save_predictions(engine, model, preds.assign(predicted_close=[1, 2, np.nan, 4, 5]))
    with pytest.raises(StoreError, match="missing column"):
        save_predictions(engine, model, preds.drop(columns="predicted_close"))


def test_training_jobs(engine: Engine) -> None:
    job = save_training_job(engine, ["AAA"], "[model]\n")
    update_training_job(engine, job, "running")
    model = save_model(engine, "lstm", "m.pt", {})
    update_training_job(engine, job, "succeeded", model_id=model, metrics={"val_loss": 0.5})
    (row,) = list_training_jobs(engine)
    assert row["status"] == "succeeded" and row["model_id"] == model and row["metrics"] == {"val_loss": 0.5}
    assert row["started_at"] <= row["finished_at"]
    assert list_training_jobs(engine, status="queued") == []
    with pytest.raises(StoreError, match="status must be one of"):
        update_training_job(engine, job, "done")
    with pytest.raises(StoreError, match="no training job with id 999"):
        update_training_job(engine, 999, "failed", error="x")


def test_orders_fills_positions_of_a_session(engine: Engine) -> None:
    run = save_run_row(
        engine, "paper", "", {}, None, symbols=["AAA"], status="running", data_start="2024-01-02", data_end=T0
    )
    other = save_run_row(engine, "backtest", "", {}, None)
    o1 = save_order(engine, run, "c-1", "AAA", "buy", 10, reason="entry", created_at=T0)
    o2 = save_order(
        engine, run, "c-2", "AAA", "sell", 10, order_type="stop", stop_price=99.5, created_at=T0 + timedelta(minutes=3)
    )
    save_order(engine, other, "c-3", "AAA", "buy", 1)
    update_order(engine, o1, "filled", broker_order_id="B1")
    f1 = save_fill(engine, o1, "AAA", "buy", 10, 100.25, 0.05, T0 + timedelta(minutes=1))
    save_fill(engine, o2, "AAA", "sell", 10, 99.5, 0.05, T0 + timedelta(minutes=3))
    save_position(engine, run, "AAA", 10, 100.25)
    save_position(engine, run, "AAA", 0, 0, realized_pnl=-7.6)  # upsert, not a second row
    orders = list_orders(engine, run_id=run)
    assert [o["client_order_id"] for o in orders] == ["c-1", "c-2"]
    assert orders[0]["status"] == "filled" and orders[0]["broker_order_id"] == "B1"
    fills = list_fills(engine, run_id=run)
    assert [f["id"] for f in fills][0] == f1 and fills[0]["price"] == 100.25 and fills[0]["commission"] == 0.05
    assert fills[0]["timestamp"] == T0 + timedelta(minutes=1)
    (pos,) = list_positions(engine, run)
    assert (pos["symbol"], pos["quantity"], pos["realized_pnl"]) == ("AAA", 0.0, -7.6)
    assert list_positions(engine, run, open_only=True) == []
    finish_run(engine, run, {"pnl": -7.6})
    assert {r["id"]: r["status"] for r in list_runs(engine, kind="paper")} == {run: "finished"}


def test_order_and_fill_checks(engine: Engine) -> None:
    run = save_run_row(engine, "paper", "", {}, None)
    with pytest.raises(StoreError, match="side must be"):
        save_order(engine, run, "x", "AAA", "long", 1)
    with pytest.raises(StoreError, match="quantity must be a positive number"):
        save_order(engine, run, "x", "AAA", "buy", 0)
    with pytest.raises(StoreError, match="run kind"):
        save_run_row(engine, "sim", "", {}, None)
    save_order(engine, run, "dup", "AAA", "buy", 1)
    with pytest.raises(IntegrityError):  # client order ids are idempotency keys
        save_order(engine, run, "dup", "AAA", "buy", 1)
    with pytest.raises(IntegrityError):  # foreign keys are enforced on SQLite too
        save_fill(engine, 12345, "AAA", "buy", 1, 10.0, 0.0, T0)


def test_fetched_ranges_merge_and_are_idempotent(engine: Engine) -> None:
    d = [T0 + timedelta(days=i) for i in range(6)]
    mark_fetched(engine, "AAA", "1m", d[2], d[3])
    mark_fetched(engine, "AAA", "1m", d[0], d[1])
    mark_fetched(engine, "AAA", "1m", d[1], d[2])  # touches both neighbours
    mark_fetched(engine, "AAA", "1m", d[0], d[1])  # again: no duplicate
    mark_fetched(engine, "AAA", "1m", d[4], d[5])
    mark_fetched(engine, "BBB", "1m", d[0], d[5])
    assert fetched_ranges(engine, "AAA", "1m") == [(d[0], d[3]), (d[4], d[5])]
    assert fetched_ranges(engine, "AAA", "5m") == []
    with pytest.raises(StoreError, match="not after its start"):
        mark_fetched(engine, "AAA", "1m", d[3], d[3])
