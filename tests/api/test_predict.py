"""POST /api/v1/analysis/predict: stored or posted bars, the model's own numbers, rules that explain the
strategy's decision, and every error path."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from tests.api.conftest import SYMBOL, Api
from tradingmodel.config import TradingConfig
from tradingmodel.model import predict
from tradingmodel.services.predict import explain
from tradingmodel.store import save_model


def _posted(bars: pd.DataFrame) -> list[dict]:
    return [
        {"timestamp": t.isoformat(), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for t, o, h, lo, c, v in zip(
            bars["timestamp"], bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"], strict=True
        )
    ]


def test_prediction_from_stored_bars_is_the_models(
    with_model: tuple[Api, int], sim_bars: pd.DataFrame, model_dir: Path
) -> None:
    api, mid = with_model
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": "aaa"})
    assert r.status_code == 200, r.text
    body = r.json()
    mine = sim_bars[sim_bars["symbol"] == SYMBOL].reset_index(drop=True)
    want = predict(model_dir, mine.iloc[-400:]).iloc[-1]
    assert body["model_id"] == mid and body["symbol"] == SYMBOL
    assert pd.Timestamp(body["bar_time"]) == mine["timestamp"].iloc[-1]  # made after the last stored bar
    assert body["close"] == mine["close"].iloc[-1]
    assert body["predicted_close"] == pytest.approx(float(want["predicted_close"]), rel=1e-9)
    assert body["confidence"] == pytest.approx(float(want["confidence"]), rel=1e-9)
    sig = body["signal"]
    assert sig["decision"] in ("long", "short", "none") and sig["reason"]
    longs_pass = all(r["passed"] for r in sig["long_rules"])
    shorts_pass = all(r["passed"] for r in sig["short_rules"])
    assert (sig["decision"] == "long") == longs_pass
    assert (sig["decision"] == "short") == (shorts_pass and not longs_pass)


def test_posted_bars_give_the_same_prediction_as_stored_ones(
    with_model: tuple[Api, int], sim_bars: pd.DataFrame
) -> None:
    api, mid = with_model
    mine = sim_bars[sim_bars["symbol"] == SYMBOL].reset_index(drop=True)
    stored = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL}).json()
    posted = api.client.post(
        "/api/v1/analysis/predict", json={"symbol": SYMBOL, "model_id": mid, "bars": _posted(mine.iloc[-341:])}
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["bar_time"] == stored["bar_time"]
    assert posted.json()["predicted_close"] == pytest.approx(stored["predicted_close"], rel=1e-9)


def test_bad_posted_bars_are_refused_naming_the_row(with_model: tuple[Api, int], sim_bars: pd.DataFrame) -> None:
    api, _ = with_model
    rows = _posted(sim_bars[sim_bars["symbol"] == SYMBOL].iloc[:100])
    rows[6]["high"] = rows[6]["low"] / 2
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL, "bars": rows})
    assert r.status_code == 422
    assert "row 7" in r.json()["detail"] and "high" in r.json()["detail"]
    rows = _posted(sim_bars[sim_bars["symbol"] == SYMBOL].iloc[:100])
    rows[3]["timestamp"] = "2024-01-02 14:33"
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL, "bars": rows})
    assert r.status_code == 422 and "no UTC offset" in r.json()["detail"]
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL, "bars": _posted(sim_bars.iloc[:10])})
    assert r.status_code == 422 and "at least" in r.json()["detail"]  # too few for one window
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL, "bars": rows * 60})
    assert r.status_code == 422 and "5000" in r.json()["detail"]


def test_missing_models_and_symbols(with_model: tuple[Api, int]) -> None:
    api, mid = with_model
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": "BBB"})
    assert r.status_code == 404 and "no model trained on BBB" in r.json()["detail"]
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL, "model_id": mid + 99})
    assert r.status_code == 404 and f"no model with id {mid + 99}" in r.json()["detail"]
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": "BBB", "model_id": mid})
    assert r.status_code == 422 and "not trained on BBB" in r.json()["detail"]
    gone = save_model(api.engine, "gone", "/nonexistent/model", {}, symbols=["BBB"])
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": "BBB", "model_id": gone})
    assert r.status_code == 409 and "cannot be used" in r.json()["detail"]
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL, "extra": 1})
    assert r.status_code == 422 and "extra" in r.json()["detail"]
    r = api.client.post("/api/v1/analysis/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_body_size_is_limited(with_model: tuple[Api, int]) -> None:
    api, _ = with_model
    r = api.client.post(
        "/api/v1/analysis/predict", content=b"x" * 3_000_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "too large" in r.json()["detail"]


@pytest.mark.parametrize("unit", ["percent", "sigma"])
def test_rules_explain_the_compiled_decision(unit: str) -> None:
    """On a grid of bars the decision of entry_signal is exactly what the listed rules say."""
    t = TradingConfig(threshold_unit=unit, buy_threshold=0.5, sell_threshold=0.5)
    seen = set()
    for pred in (98.0, 99.9, 100.0, 100.1, 102.0):
        for rsi in (20.0, 50.0, 80.0, math.nan):
            for vol in (50.0, 150.0):
                feats = {"rsi14": rsi, "volume": vol, "volume_sma20": 100.0, "ret_std20": 0.004}
                s = explain(100.0, pred, feats, t)
                longs = all(r.passed for r in s.long_rules)
                shorts = all(r.passed for r in s.short_rules)
                assert s.decision == ("long" if longs else "short" if shorts else "none"), (pred, rsi, vol)
                seen.add(s.decision)
    assert seen == {"long", "short", "none"}
