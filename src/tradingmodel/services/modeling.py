"""Train, evaluate, predict: the model use cases of the CLI's ``train``/``evaluate``/``predict`` and of
the background training jobs.

``train_model`` reports through hooks, never by printing: ``on_epoch`` gets each epoch's record (model,
epoch, losses, samples/s, best epoch) and ``should_stop`` is asked before every batch (Ctrl-C in the
CLI, a cancel flag or a stopping worker in a job); a stopped training keeps the best epoch so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from tradingmodel.config import AppConfig
from tradingmodel.data.columns import SCORED_PREDICTION_COLUMNS
from tradingmodel.report.runs import RunOutputs
from tradingmodel.services.errors import Conflict
from tradingmodel.services.records import ModelEntry, Recorded, record_run


@dataclass
class TrainRequest:
    """Train on ``bars`` (from ``source``) with ``config.model`` into ``out_dir``."""

    bars: pd.DataFrame
    source: str
    config: AppConfig
    out_dir: Path
    pooled: bool = False
    progress: bool = False  # a rich progress bar on stderr
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    should_stop: Callable[[], bool] | None = None
    threads: int | None = None  # torch CPU threads (None: torch's choice)
    evaluate: bool = False  # score the model (split auto) and register the figures with it
    reports: Path | None = None  # write a ``train`` run folder here
    engine: Engine | None = None  # register the model in ``models`` (and finish ``job_id``)
    name: str | None = None  # the model's name in the registry (default: the folder name)
    job_id: int | None = None
    timeframe: str = "1m"


@dataclass
class Trained:
    """The training result (checkpoints, history, best epochs, ``interrupted``), its evaluation when
    asked for, and where it was recorded."""

    result: Any  # tradingmodel.model.train.TrainResult
    metrics: dict[str, Any] | None
    recorded: Recorded = field(default_factory=Recorded)

    @property
    def interrupted(self) -> bool:
        return bool(self.result.interrupted)


def train_model(req: TrainRequest) -> Trained:
    """Train, optionally evaluate, and record the run folder and the ``models`` row in one call. A stop
    (``should_stop`` or Ctrl-C) before the first epoch ended raises ``KeyboardInterrupt`` (nothing saved);
    a later one records what was kept and returns with ``interrupted`` set (not registered: incomplete)."""
    from tradingmodel.model import evaluate, train
    from tradingmodel.report import provenance

    if req.threads:
        import torch

        torch.set_num_threads(req.threads)
    res = train(
        req.bars,
        req.config.model,
        req.out_dir,
        pooled=req.pooled,
        progress=req.progress,
        on_epoch=req.on_epoch,
        should_stop=req.should_stop,
    )
    metrics = None
    if req.evaluate and not res.interrupted:
        metrics = evaluate(req.out_dir, req.bars, split="auto")
        assert isinstance(metrics, dict)
        metrics["best_epoch"] = res.best_epoch
    register = req.engine is not None and not res.interrupted
    entry = (
        ModelEntry(
            req.out_dir,
            req.name or req.out_dir.name,
            metrics or {"best_epoch": res.best_epoch},
            sorted(res.model_dirs),
            req.timeframe,
        )
        if register
        else None
    )
    recorded = record_run(
        "train",
        config=req.config,
        provenance=provenance(req.bars, source=req.source, model_dir=str(req.out_dir), pooled=req.pooled),
        outputs=RunOutputs(history=res.history),
        reports=req.reports,
        engine=req.engine if register else None,
        model=entry,
        job_id=req.job_id if register else None,
        timeframe=req.timeframe,
    )
    return Trained(res, metrics, recorded)


def check_model_config(model: Path, config: AppConfig | None, config_path: Path | None) -> None:
    """With a config file, the model must have been trained with the architecture the file sets
    (``sequence_length``, ``hidden_size``, ``num_layers``): evaluating another model by mistake is refused.
    Every other setting of a trained model comes from its checkpoint."""
    if config is None:
        return
    from tradingmodel.model.checkpoint import ARCH_KEYS, load_checkpoint, resolve_model_dir

    cfg = config.model
    keys = [k for k in ARCH_KEYS if k in cfg.model_fields_set]
    for d in dict.fromkeys(resolve_model_dir(model).values()):
        stored = load_checkpoint(d).config
        diff = [
            f"{k} {getattr(stored, k)} (the config says {getattr(cfg, k)})"
            for k in keys
            if getattr(stored, k) != getattr(cfg, k)
        ]
        if diff:
            raise Conflict(f"{d}: this model was trained with {', '.join(diff)}, not with {config_path}")


@dataclass
class Evaluated:
    """The model's figures beside the baselines, evaluate's per-bar frame and the run folder."""

    metrics: dict[str, Any]
    frame: pd.DataFrame
    recorded: Recorded


def evaluate_model(
    model: Path, bars: pd.DataFrame, source: str, *, split: str = "auto", reports: Path | None = None
) -> Evaluated:
    """Score ``model`` on ``bars`` beside the persistence and AR baselines; write an ``evaluate`` run
    folder under ``reports`` (when given)."""
    from tradingmodel.model import evaluate
    from tradingmodel.report import provenance

    m, frame = evaluate(model, bars, split=split, return_frame=True)
    recorded = record_run(
        "evaluate",
        config=None,
        provenance=provenance(bars, source=source, model_dir=str(model), split=split),
        outputs=RunOutputs(
            model_metrics=m, bars=bars, predictions=frame.loc[frame["scored"], list(SCORED_PREDICTION_COLUMNS)]
        ),
        reports=reports,
    )
    return Evaluated(m, frame, recorded)


@dataclass
class Predicted:
    """The predictions written and the model record beside them."""

    predictions: pd.DataFrame
    path: Path
    record: Path


def predict_to_file(model: Path, bars: pd.DataFrame, out_path: Path) -> Predicted:
    """Predict every bar with a full window and write ``out_path`` (.csv/.parquet) and, beside it,
    ``<out>.model.json``: the model's identity and training period, for the backtest's in-sample check."""
    from tradingmodel.data.bars import write_frame
    from tradingmodel.model import predict
    from tradingmodel.model.predict import prediction_origin, write_origin

    preds = predict(model, bars)
    write_frame(preds, out_path)
    record = write_origin(out_path, prediction_origin(model, bars))
    return Predicted(preds, out_path, record)
