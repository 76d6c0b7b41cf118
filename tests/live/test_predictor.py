"""The live predictor gives exactly ``model.predict``'s numbers on the same bars, bar by bar."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tests.live.conftest import SYMBOLS, trading_bars
from tradingmodel.data import simulate
from tradingmodel.live.predictor import Predictor
from tradingmodel.model import predict
from tradingmodel.model.inference import default_backend


def _live_equals_batch(model_dir: Path, symbols: list[str], bars: pd.DataFrame, at_least: int) -> Predictor:
    """A :class:`Predictor` fed ``bars`` minute by minute predicts exactly ``model.predict``'s rows (price and
    confidence, bit for bit), at least ``at_least`` of them and nothing more; returns it."""
    batch = predict(model_dir, bars)
    live = Predictor(model_dir, symbols)
    got = {}
    for ts, g in bars.groupby("timestamp", sort=True):
        for sym, c, v in zip(g["symbol"], g["close"], g["volume"], strict=True):
            live.update(sym, c, v)
        for sym, p in live.predict(list(g["symbol"])).items():
            got[(sym, ts)] = (p.predicted_close, p.confidence)
    assert len(got) == len(batch) > at_least
    mine = np.array([got[(s, t)] for s, t in zip(batch["symbol"], batch["timestamp"], strict=True)])
    np.testing.assert_array_equal(mine[:, 0], batch["predicted_close"].to_numpy())
    np.testing.assert_array_equal(mine[:, 1], batch["confidence"].to_numpy())
    return live


def test_predictor_equals_model_predict_bar_by_bar(model_dir: Path) -> None:
    torch.set_num_threads(1)
    live = _live_equals_batch(model_dir, SYMBOLS, trading_bars(minutes=90), at_least=80)
    if live._cores > 1 and default_backend() == "c":  # 1 or 2 rows: each on two threads, half the units each
        assert live.split_calls == live.calls > 40


def test_warm_up_from_history_gives_the_same_next_prediction(model_dir: Path) -> None:
    bars = trading_bars(minutes=60)
    a, b = Predictor(model_dir, ["AAA"]), Predictor(model_dir, ["AAA"])
    aaa = bars[bars["symbol"] == "AAA"]
    for c, v in zip(aaa["close"], aaa["volume"], strict=True):
        a.update("AAA", c, v)
    b.warm_up("AAA", aaa["close"].to_numpy(), aaa["volume"].to_numpy())
    assert a.predict(["AAA"])["AAA"] == b.predict(["AAA"])["AAA"]
    assert not Predictor(model_dir, ["AAA"]).predict(["AAA"])  # nothing before a full window


def _widen(model_dir: Path, out: Path, symbols: list[str]) -> Path:
    """``model_dir``'s pooled network serving ``symbols``, each with AAA's scaling (a many-symbol model)."""
    shutil.copytree(model_dir, out)
    man = json.loads((out / "manifest.json").read_text())
    sub = man["symbols"]["AAA"]
    man["symbols"] = {s: sub for s in symbols}
    (out / "manifest.json").write_text(json.dumps(man))
    meta = json.loads((out / sub / "meta.json").read_text())
    meta["symbols"] = {s: meta["symbols"]["AAA"] for s in symbols}
    (out / sub / "meta.json").write_text(json.dumps(meta))
    return out


def test_many_symbols_split_across_cores_still_equal_model_predict(model_dir: Path, tmp_path: Path) -> None:
    """From 16 ready symbols on, the batch is split over the cores on threads: same numbers."""
    torch.set_num_threads(1)
    symbols = [f"S{i:02d}" for i in range(20)]
    wide = _widen(model_dir, tmp_path / "wide", symbols)
    bars = simulate(symbols, 1, seed=4, signal=1.0, start="2024-02-05")
    bars = bars[bars["timestamp"] < bars["timestamp"].min() + pd.Timedelta(minutes=70)]
    keep = np.random.default_rng(4).random(len(bars)) >= 0.05  # a few missing: chunks of unequal size
    bars = bars[keep | (bars["timestamp"] == bars["timestamp"].min()).to_numpy()].reset_index(drop=True)
    live = _live_equals_batch(wide, symbols, bars, at_least=500)
    if live._cores > 1:
        assert live.split_calls > 0  # the equality above covers the split path
