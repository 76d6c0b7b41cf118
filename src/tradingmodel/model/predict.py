"""Prediction and honest evaluation from a checkpoint directory.

A prediction at bar t uses only bars ``t - sequence_length + 1 .. t`` (through features that look back
only) and statistics stored in the checkpoint, so deleting every bar after t leaves it unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tradingmodel.metrics.model import last_move_sign, persistence_score, score
from tradingmodel.model.baselines import apply_calibration, ar_predict
from tradingmodel.model.checkpoint import (
    Checkpoint,
    CheckpointError,
    data_hash,
    load_checkpoint,
    resolve_model_dir,
)
from tradingmodel.model.train import predict_standardised
from tradingmodel.model.windows import FeatureFn, WindowSet, all_samples, symbol_series

SPLITS = ("auto", "test", "whole")


def _checkpoints(model_dir: str | Path, bars: pd.DataFrame) -> list[tuple[str, Checkpoint]]:
    """(symbol, checkpoint) for every symbol in ``bars``; unknown symbols are an error."""
    if "symbol" not in bars.columns:
        raise ValueError("bars: missing column symbol")
    return checkpoints_for(model_dir, sorted(pd.unique(bars["symbol"]).tolist()))


def checkpoints_for(model_dir: str | Path, symbols: list[str]) -> list[tuple[str, Checkpoint]]:
    """(symbol, checkpoint) for each of ``symbols``, each checkpoint file loaded once (a pooled model serves
    several symbols); a symbol the model was not trained on is an error naming the ones it was."""
    mapping = resolve_model_dir(model_dir)
    unknown = [s for s in symbols if s not in mapping]
    if unknown:
        raise CheckpointError(
            f"{model_dir}: no model for symbol(s) {', '.join(unknown)} (trained on {', '.join(sorted(mapping))})"
        )
    loaded: dict[Path, Checkpoint] = {}
    out = []
    for s in symbols:
        p = mapping[s]
        if p not in loaded:
            loaded[p] = load_checkpoint(p)
        if s not in loaded[p].symbols:
            raise CheckpointError(f"{p}: checkpoint has no metadata for symbol {s}")
        out.append((s, loaded[p]))
    return out


def _symbol_frame(
    ck: Checkpoint, sym: str, bars: pd.DataFrame, need_target: bool, feature_fn: FeatureFn | None
) -> pd.DataFrame:
    m = ck.symbols[sym]
    L = ck.config.sequence_length
    s = symbol_series(bars, sym, feature_fn)
    t = all_samples(s, L, need_target=need_target)
    if len(t) == 0:
        return pd.DataFrame()
    ws = WindowSet([s], [m.scaler], L)
    z = predict_standardised(ck.net, ws, t, np.zeros(len(t), dtype=np.int64), torch.device("cpu"))
    close = s.close[t]
    frame = pd.DataFrame(
        {
            "symbol": sym,
            "timestamp": s.timestamps[t],
            "predicted_close": close * (1.0 + z * m.scaler.target_scale),
            "confidence": apply_calibration(np.abs(z), m.calibration),
        }
    )
    if need_target:
        frame["close"] = close
        frame["next_close"] = s.close[t + 1]
        frame["prev_close"] = s.close[t - 1]
        frame["last_sign"] = last_move_sign(s.close)[t]
        frame["ar_predicted_close"] = close * (1.0 + ar_predict(s.close, t, m.ar_coef))
        ts = s.timestamps
        start, nxt = ts[t - L + 1], ts[t + 1]
        label = np.full(len(t), "gap", dtype=object)
        for part, (lo, hi) in m.split_ts.items():
            inside = start >= pd.Timestamp(lo)
            if part != "test":  # the test part runs on: bars after the training data are unseen as well
                inside &= nxt <= pd.Timestamp(hi)
            label[np.asarray(inside)] = part
        frame["split"] = label
    return frame


def predict(model_dir: str | Path, bars: pd.DataFrame, *, feature_fn: FeatureFn | None = None) -> pd.DataFrame:
    """``symbol, timestamp, predicted_close, confidence`` for every bar with a full window.

    Row t predicts bar t+1's close; ``confidence`` is the calibrated probability that the predicted
    direction is right. Raises when no bar has a full window.
    """
    frames = [_symbol_frame(ck, s, bars, False, feature_fn) for s, ck in _checkpoints(model_dir, bars)]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise ValueError("no bar has a full window of sequence_length bars after the feature warm-up")
    return pd.concat(frames, ignore_index=True)


ORIGIN_SUFFIX = ".model.json"  # predictions.csv -> predictions.csv.model.json, written beside it by ``predict``


def origin_path(predictions_path: str | Path) -> Path:
    """Where the record of the model behind a predictions file is kept: ``<file>.model.json``."""
    p = Path(predictions_path)
    return p.with_name(p.name + ORIGIN_SUFFIX)


def prediction_origin(model_dir: str | Path, bars: pd.DataFrame) -> dict[str, Any]:
    """The model's identity and training range, per symbol of ``bars``: what a backtest of the
    predictions needs to tell whether they are in-sample.

    ``training_period`` is ``[first, last]`` bar of the training and validation parts (both were seen
    while fitting: weights, early stopping, scaler, calibration); ``checkpoint_sha256`` is the digest of
    the weights file, so a retrained model under the same folder is a different model.
    """
    digests: dict[Path, str] = {}
    symbols = {}
    for sym, ck in _checkpoints(model_dir, bars):
        if ck.path not in digests:
            digests[ck.path] = hashlib.sha256((ck.path / "model.pt").read_bytes()).hexdigest()
        m = ck.symbols[sym]
        seen = [m.split_ts[k] for k in ("train", "val") if k in m.split_ts]
        symbols[sym] = {
            "checkpoint": str(ck.path),
            "checkpoint_sha256": digests[ck.path],
            "data_hash": m.data_hash,
            "split_ts": m.split_ts,
            "training_period": [min(p[0] for p in seen), max(p[1] for p in seen)] if seen else None,
        }
    return {"format": 1, "model_dir": str(model_dir), "symbols": symbols}


def write_origin(predictions_path: str | Path, origin: dict[str, Any]) -> Path:
    """Write ``origin`` beside the predictions file (atomically); return its path."""
    target = origin_path(predictions_path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(origin, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def read_origin(predictions_path: str | Path) -> dict[str, Any] | None:
    """The record written by :func:`write_origin`, or None when the file has none (made elsewhere)."""
    p = origin_path(predictions_path)
    if not p.is_file():
        return None
    try:
        origin = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{p}: not a readable model record ({e}); delete it or run predict again") from None
    if not isinstance(origin, dict) or not isinstance(origin.get("symbols"), dict):
        raise ValueError(f"{p}: not a model record (no 'symbols'); delete it or run predict again")
    return origin


def _scores(f: pd.DataFrame) -> dict:
    cols = {c: f[c].to_numpy() for c in ("close", "next_close", "prev_close")}
    res = score(
        cols["close"],
        cols["next_close"],
        f["predicted_close"].to_numpy(),
        cols["prev_close"],
        confidence=f["confidence"].to_numpy(),
    )
    res["baseline"] = persistence_score(
        cols["close"], cols["next_close"], cols["prev_close"], f["last_sign"].to_numpy()
    )
    res["ar_baseline"] = score(
        cols["close"], cols["next_close"], f["ar_predicted_close"].to_numpy(), cols["prev_close"]
    )
    if len(f):
        res["period"] = [f["timestamp"].min().isoformat(), f["timestamp"].max().isoformat()]
    return res


def score_frame(frame: pd.DataFrame) -> dict:
    """The ``evaluate`` figures of a per-bar frame (``close, next_close, prev_close, last_sign,
    predicted_close, confidence, ar_predicted_close, timestamp``): the model beside persistence and AR(20).

    Public so that other evaluations (walk-forward folds) report exactly what ``evaluate`` reports."""
    return _scores(frame)


def evaluate(
    model_dir: str | Path,
    bars: pd.DataFrame,
    *,
    split: str = "auto",
    return_frame: bool = False,
    feature_fn: FeatureFn | None = None,
) -> dict | tuple[dict, pd.DataFrame]:
    """Score the model beside the persistence and AR baselines on the same bars.

    ``split``: ``"auto"`` = the checkpoint's test part when a symbol's bars hash to the training data,
    else all of the given bars; ``"test"`` = bars from the stored test start on; ``"whole"`` = all bars.
    With ``return_frame`` also returns the per-bar frame (``symbol, timestamp, close, next_close,
    predicted_close, confidence, split, ...``; ``scored`` marks the bars in the figures).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    frames, per_symbol, notes = [], {}, []
    for sym, ck in _checkpoints(model_dir, bars):
        f = _symbol_frame(ck, sym, bars, True, feature_fn)
        if len(f) == 0:
            notes.append(f"{sym}: no bar with a full window and a next bar; not scored")
            continue
        mode = split
        if mode == "auto":
            same = data_hash(bars[bars["symbol"] == sym]) == ck.symbols[sym].data_hash
            mode = "test" if same else "whole"
        f["scored"] = f["split"].eq("test") if mode == "test" else True
        scored = f[f["scored"]]
        if mode == "whole":
            seen = int(scored["split"].isin(["train", "val"]).sum())
            if seen:
                notes.append(
                    f"{sym}: {seen} scored bars fall in the model's training/validation period; "
                    "figures on them are not out-of-sample"
                )
        per_symbol[sym] = {"split": mode, **_scores(scored)}
        frames.append(f)
    if not frames:
        raise ValueError("no bar could be scored (too few bars for one window plus a next bar)")
    frame = pd.concat(frames, ignore_index=True)
    scored = frame[frame["scored"]]
    if len(scored) == 0:
        raise ValueError("no bar in the requested split; use split='whole' to score the whole file")
    modes = sorted({v["split"] for v in per_symbol.values()})
    metrics = {
        "model_dir": str(model_dir),
        "split": modes[0] if len(modes) == 1 else "mixed",
        **_scores(scored),
        "per_symbol": per_symbol,
        "notes": notes,
    }
    if return_frame:
        return metrics, frame
    return metrics
