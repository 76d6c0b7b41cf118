"""End-to-end steps that join the stages: model → out-of-sample predictions → backtest.

The CLI (``backtest --model``, ``demo``) and, later, the API call these functions, so every entry point
trades on the same bars the model was scored on: by default the checkpoint's unseen test part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def backtest_model(model_dir: str | Path, bars: pd.DataFrame, trading: TradingConfig, *,
                   split: str = "auto", baseline: bool = False) -> ModelBacktest:
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
    base = None
    if baseline:
        ar = frame.loc[frame["scored"], ["symbol", "timestamp", "ar_predicted_close"]]
        base = run_backtest(traded, ar.rename(columns={"ar_predicted_close": "predicted_close"}), trading,
                            source="AR(20) baseline")
    return ModelBacktest(metrics, frame, traded, result, base)
