"""Backtest: bars + (a model | a predictions file) → trades, equity, metrics, recorded as a run.

A model is scored on the bars first and only its scored bars are traded (by default the checkpoint's
unseen test part), so every entry point trades the bars the model's figures describe; the same strategy
also trades the AR(20) baseline's predictions for comparison. A predictions file is checked against the
model record beside it (bars of the model's training period are flagged in-sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from tradingmodel.config import AppConfig, TradingConfig
from tradingmodel.data.columns import PREDICTION_COLUMNS, SCORED_PREDICTION_COLUMNS
from tradingmodel.report.runs import RunOutputs
from tradingmodel.services.checks import attach_sample_check, sample_check_from_frame, sample_check_from_origin
from tradingmodel.services.errors import Invalid
from tradingmodel.services.records import Recorded, record_run


@dataclass
class ModelBacktest:
    """A model's figures and the backtest of its predictions on the same (scored) bars."""

    model_metrics: dict
    frame: pd.DataFrame  # evaluate()'s per-bar frame: predictions, actuals, split, scored
    bars: pd.DataFrame  # the bars that were traded
    result: Any  # tradingmodel.backtest.BacktestResult
    baseline_result: Any | None = None  # the same strategy on the AR(20) baseline's predictions


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
    With ``baseline`` the same strategy also trades the AR(20) baseline's predictions on the same bars.
    """
    from tradingmodel.backtest import run_backtest
    from tradingmodel.model import evaluate

    metrics, frame = evaluate(model_dir, bars, split=split, return_frame=True)
    traded = scored_bars(bars, frame)
    preds = frame.loc[frame["scored"], list(PREDICTION_COLUMNS)]
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


def read_predictions(path: Path) -> pd.DataFrame:
    """A predictions file (CSV or Parquet by suffix) with ``symbol, timestamp, predicted_close``; rows are
    numbered from 1, as the rows of bar files are in errors."""
    from tradingmodel.data.bars import file_format

    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    try:
        if file_format(path) == "csv":
            df = pd.read_csv(path, dtype={"symbol": str, "timestamp": str})
        else:
            df = pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise Invalid(f"{path}: cannot read predictions: {e}") from None
    df.index = pd.RangeIndex(1, len(df) + 1)
    return df


def select_predictions(preds: pd.DataFrame, bars: pd.DataFrame, symbols: list[str] | None) -> tuple[pd.DataFrame, int]:
    """The predictions of the bars kept: those of ``symbols`` only and, for intraday bars, none outside US
    regular hours; returns them (rows keep their numbers) and how many were left out for the hours."""
    from tradingmodel.data.sessions import is_intraday, regular_hours_mask

    if "symbol" not in preds.columns or "timestamp" not in preds.columns:
        return preds, 0  # the backtest names the missing column
    if symbols:
        preds = preds[preds["symbol"].astype(str).str.strip().str.upper().isin(symbols)]
    if is_intraday(bars):
        ts = pd.to_datetime(preds["timestamp"], utc=True, errors="coerce", format="ISO8601")
        outside = ts.notna().to_numpy() & ~regular_hours_mask(ts.fillna(pd.Timestamp(0, tz="UTC")))
        if outside.any():
            return preds[~outside], int(outside.sum())
    return preds, 0


@dataclass
class BacktestRequest:
    """A backtest of ``bars`` (from ``bars_source``) on ``model`` or on the ``predictions`` file."""

    bars: pd.DataFrame
    bars_source: str
    config: AppConfig
    model: Path | None = None
    predictions: Path | None = None
    symbols: list[str] | None = None  # the predictions of these symbols only
    split: str = "auto"
    reports: Path | None = None  # write a run folder here
    engine: Engine | None = None  # record the run in this database (``runs``)
    timeframe: str = "1m"


@dataclass
class BacktestOutcome:
    """The backtest, what was traded and where it was recorded."""

    result: Any  # tradingmodel.backtest.BacktestResult
    bars: pd.DataFrame  # the bars traded (a model's scored part)
    source: str  # where the predictions came from
    model_metrics: dict[str, Any] | None
    predictions: pd.DataFrame | None  # as the run folder keeps them
    outside_hours: int  # predictions left out because their bar is outside regular hours
    recorded: Recorded


def backtest(req: BacktestRequest) -> BacktestOutcome:
    """Run the backtest of ``req`` and record it (folder and/or ``runs`` row); :class:`Invalid` unless
    exactly one of ``model``/``predictions`` is given."""
    from tradingmodel.backtest import run_backtest
    from tradingmodel.report import provenance

    if (req.model is None) == (req.predictions is None):
        raise Invalid("give exactly one of a model folder or a predictions file")
    bars, model_metrics, outside = req.bars, None, 0
    if req.predictions is not None:
        from tradingmodel.model.predict import read_origin

        source = str(req.predictions)
        preds, outside = select_predictions(read_predictions(req.predictions), bars, req.symbols)
        result = run_backtest(bars, preds, req.config.trading, source=source)
        attach_sample_check(result.metrics, sample_check_from_origin(preds, read_origin(req.predictions), source))
        kept = preds[[c for c in PREDICTION_COLUMNS if c in preds.columns]]
    else:
        mb = backtest_model(req.model, bars, req.config.trading, split=req.split, baseline=True)
        model_metrics, result, bars = mb.model_metrics, mb.result, mb.bars
        source = f"model {req.model} ({model_metrics['split']} part)"
        kept = mb.frame.loc[mb.frame["scored"], list(SCORED_PREDICTION_COLUMNS)]
    recorded = record_run(
        "backtest",
        config=req.config,
        provenance=provenance(bars, source=req.bars_source, predictions=source),
        outputs=RunOutputs(
            model_metrics=model_metrics,
            trading_metrics=result.metrics,
            trades=result.trades,
            equity=result.equity,
            bars=bars,
            predictions=kept,
        ),
        reports=req.reports,
        engine=req.engine,
        timeframe=req.timeframe,
    )
    return BacktestOutcome(result, bars, source, model_metrics, kept, outside, recorded)
