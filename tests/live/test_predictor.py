"""The live predictor gives exactly ``model.predict``'s numbers on the same bars, bar by bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.live.conftest import SYMBOLS, trading_bars
from tradingmodel.live.predictor import Predictor
from tradingmodel.model import predict


def test_predictor_equals_model_predict_bar_by_bar(model_dir: Path) -> None:
    torch.set_num_threads(1)
    bars = trading_bars(minutes=90)
    batch = predict(model_dir, bars)
    live = Predictor(model_dir, SYMBOLS)
    got = {}
    for ts, g in bars.groupby("timestamp", sort=True):
        for sym, c, v in zip(g["symbol"], g["close"], g["volume"], strict=True):
            live.update(sym, c, v)
        for sym, p in live.predict(list(g["symbol"])).items():
            got[(sym, ts)] = (p.predicted_close, p.confidence)
    assert len(got) == len(batch) > 80
    mine = np.array([got[(s, t)] for s, t in zip(batch["symbol"], batch["timestamp"], strict=True)])
    np.testing.assert_array_equal(mine[:, 0], batch["predicted_close"].to_numpy())
    np.testing.assert_array_equal(mine[:, 1], batch["confidence"].to_numpy())
    # the batch-size check ran (1 and 2 rows padded to fewer than 16 when their bits were found equal): the
    # equality above then covers the small batches too
    assert live._same_bits


def test_warm_up_from_history_gives_the_same_next_prediction(model_dir: Path) -> None:
    bars = trading_bars(minutes=60)
    a, b = Predictor(model_dir, ["AAA"]), Predictor(model_dir, ["AAA"])
    aaa = bars[bars["symbol"] == "AAA"]
    for c, v in zip(aaa["close"], aaa["volume"], strict=True):
        a.update("AAA", c, v)
    b.warm_up("AAA", aaa["close"].to_numpy(), aaa["volume"].to_numpy())
    assert a.predict(["AAA"])["AAA"] == b.predict(["AAA"])["AAA"]
    assert not Predictor(model_dir, ["AAA"]).predict(["AAA"])  # nothing before a full window
