"""End-to-end steps that join the stages: model → out-of-sample predictions → backtest.

The CLI (``backtest --model``, ``demo``) and, later, the API call these functions, so every entry point
trades on the same bars the model was scored on: by default the checkpoint's unseen test part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradingmodel.config import TradingConfig

PREDICTION_COLUMNS = ["symbol", "timestamp", "predicted_close", "confidence"]


@dataclass
class ModelBacktest:
    """A model's figures and the backtest of its predictions on the same (scored) bars."""

    model_metrics: dict
    frame: pd.DataFrame  # evaluate()'s per-bar frame: predictions, actuals, split, scored
    bars: pd.DataFrame  # the bars that were traded
    result: object  # tradingmodel.backtest.BacktestResult
    baseline_result: object | None = None  # the same strategy on the AR(20) baseline's predictions


def scored_bars(bars: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Each symbol's bars from its first scored bar on (the test part), or all of them when every bar
    of the symbol was scored (``whole``).

    The features the strategy needs (RSI, volume average) are recomputed on these bars, so the first
    ``WARMUP_BARS`` of the part take no entries: nothing from the training period reaches the backtest.
    """
    g = frame.groupby("symbol")
    start = frame.loc[frame["scored"]].groupby("symbol")["timestamp"].min()
    whole = g["scored"].all()
    first = bars["symbol"].map(start)
    keep = bars["symbol"].map(whole).eq(True) | (first.notna() & (bars["timestamp"] >= first))
    return bars.loc[keep].reset_index(drop=True)


def backtest_model(
    model_dir: str | Path, bars: pd.DataFrame, trading: TradingConfig, *, split: str = "auto", baseline: bool = False
) -> ModelBacktest:
    """Evaluate ``model_dir`` on ``bars`` and backtest its predictions on the scored bars only.

    ``split`` is evaluate's: ``auto`` = the checkpoint's test part when ``bars`` are its training data,
    else all bars; ``test``; ``whole`` (then bars seen in training are traded too, and the metrics say so).
    With ``baseline`` the same strategy also trades the AR(20) baseline's predictions on the same bars, so
    the model's trading figures can be compared with a naive forecaster's.
    """
    from tradingmodel.backtest import run_backtest
    from tradingmodel.model import evaluate

    metrics, frame = evaluate(model_dir, bars, split=split, return_frame=True)
    traded = scored_bars(bars, frame)
    preds = frame.loc[frame["scored"], PREDICTION_COLUMNS]
    result = run_backtest(traded, preds, trading, source=f"model {model_dir} ({metrics['split']} part)")
    attach_sample_check(result.metrics, sample_check_from_frame(frame))
    base = None
    if baseline:
        ar = frame.loc[frame["scored"], ["symbol", "timestamp", "ar_predicted_close"]]
        base = run_backtest(
            traded, ar.rename(columns={"ar_predicted_close": "predicted_close"}), trading, source="AR(20) baseline"
        )
        result.metrics["ar_baseline"] = {k: v for k, v in base.metrics.items() if k not in ("notes", "symbols")}
    return ModelBacktest(metrics, frame, traded, result, base)


def _check(overlap: dict[str, int], total: int, period: dict[str, Any], how: str) -> dict[str, Any]:
    n = int(sum(overlap.values()))
    if total == 0 or n == 0:
        verdict, warning = "out-of-sample", None
    elif n == total:
        verdict = "in-sample"
        warning = (
            f"in-sample: all {total:,} predicted bars fall in the model's training period ({how}); "
            "these figures are not evidence of anything the model learned"
        )
    else:
        verdict = "partly in-sample"
        per = ", ".join(f"{s} {k:,}" for s, k in sorted(overlap.items()) if k)
        warning = (
            f"overlaps the training period by {n:,} of {total:,} predicted bars ({per}; {how}); "
            "these figures are not out-of-sample evidence"
        )
    return {
        "verdict": verdict,
        "overlap_bars": n,
        "predicted_bars": int(total),
        "per_symbol": {s: int(k) for s, k in sorted(overlap.items())},
        "training_period": period,
        "warning": warning,
    }


def sample_check_from_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """In-sample check of a ``--model`` backtest: scored bars outside the model's test part (``split``
    ``train``/``val``, or the purge ``gap`` between them, whose windows reach into seen bars)."""
    scored = frame.loc[frame["scored"]]
    seen = scored["split"].ne("test")
    overlap = seen.groupby(scored["symbol"]).sum().to_dict()
    return _check(overlap, len(scored), {}, "bars the model was fitted or validated on")


def sample_check_from_origin(predictions: pd.DataFrame, origin: dict[str, Any] | None, source: str) -> dict[str, Any]:
    """In-sample check of a predictions file against the model record written beside it by ``predict``
    (``model.predict.prediction_origin``): predictions at bars inside a symbol's training period."""
    if origin is None:
        return {
            "verdict": "unknown",
            "overlap_bars": None,
            "predicted_bars": int(len(predictions)),
            "per_symbol": {},
            "training_period": {},
            "warning": (
                f"{source} has no model record beside it (written by `tradingmodel predict`): "
                "cannot tell whether these bars were in the model's training period"
            ),
        }
    ts = pd.to_datetime(predictions["timestamp"], utc=True, errors="coerce", format="ISO8601")
    syms = predictions["symbol"].astype(str).str.strip().str.upper()
    overlap, period = {}, {}
    for sym, rec in origin["symbols"].items():
        span = rec.get("training_period") if isinstance(rec, dict) else None
        if not span:
            continue
        lo, hi = pd.Timestamp(span[0]), pd.Timestamp(span[1])
        period[sym] = [str(span[0]), str(span[1])]
        mine = np.asarray(syms == str(sym).upper())
        overlap[sym] = int((mine & np.asarray((ts >= lo) & (ts <= hi))).sum())
    return _check(overlap, len(predictions), period, f"model {origin.get('model_dir', '?')}")


def attach_sample_check(metrics: dict[str, Any], check: dict[str, Any]) -> None:
    """Store the check in the trading metrics (``in_sample``) with its warning first among the notes."""
    metrics["in_sample"] = check
    if check.get("warning"):
        metrics["notes"] = [check["warning"], *metrics.get("notes", [])]
