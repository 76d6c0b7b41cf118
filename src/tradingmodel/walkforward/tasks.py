"""One walk-forward task: train on a fold's training part (one symbol, or all of them pooled), predict its
test period. Runs in a worker; returns plain data and writes only its own checkpoint directory.

A task is keyed by (data hash, config hash, fold, symbol): the data hash covers only the bars the task
reads (its symbols, from the fold's training start to its test end), so appending newer bars leaves
earlier folds' keys, and their finished results, unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tradingmodel.config import ModelConfig
from tradingmodel.data.bars import symbol_digest
from tradingmodel.metrics.model import last_move_sign
from tradingmodel.model.baselines import apply_calibration, ar_predict
from tradingmodel.model.train import fit_group, predict_standardised, prepare_series, save_group
from tradingmodel.model.windows import WindowSet, symbol_series
from tradingmodel.walkforward.folds import Fold

TASK_FORMAT = 1  # bump when what a task computes changes, so old results are not reused
FRAME_COLUMNS = (
    "symbol",
    "timestamp",
    "close",
    "next_close",
    "prev_close",
    "last_sign",
    "predicted_close",
    "confidence",
    "ar_predicted_close",
)


@dataclass(frozen=True)
class Task:
    """What one worker trains: a fold and a group of symbols (``name`` = the symbol or ``pooled``)."""

    fold: Fold
    symbols: tuple[str, ...]
    name: str
    key: str

    def label(self) -> str:
        return f"fold {self.fold.index} {self.name}"


def config_hash(cfg: ModelConfig) -> str:
    """SHA-256 of the model config (every key: any change retrains)."""
    return hashlib.sha256(json.dumps(cfg.model_dump(), sort_keys=True).encode()).hexdigest()


def _slice(bars: pd.DataFrame, sym: str, fold: Fold) -> pd.DataFrame:
    sub = bars[bars["symbol"] == sym]
    ts = sub["timestamp"]
    return sub[(ts >= fold.train_start) & (ts < fold.test_end)]


def make_tasks(bars: pd.DataFrame, folds: list[Fold], symbols: list[str], cfg: ModelConfig, pooled: bool) -> list[Task]:
    """Every (fold, symbol) task, or (fold, pooled) with ``pooled``, each with its key."""
    ch = config_hash(cfg)
    groups = [("pooled", tuple(symbols))] if pooled else [(s, (s,)) for s in symbols]
    tasks = []
    for fold in folds:
        for name, syms in groups:
            data = [symbol_digest(_slice(bars, s, fold)) for s in syms]
            text = json.dumps(
                {"format": TASK_FORMAT, "data": data, "config": ch, "fold": fold.to_json(), "symbol": name},
                sort_keys=True,
            )
            tasks.append(Task(fold, syms, name, hashlib.sha256(text.encode()).hexdigest()[:32]))
    return tasks


def checkpoint_dir(root: Path, fold: Fold) -> Path:
    """Where a fold's checkpoints go: ``<root>/fold-000/<SYMBOL or pooled>/`` plus the driver's manifest."""
    return Path(root) / f"fold-{fold.index:03d}"


def run_task(bars: pd.DataFrame, task: Task, cfg: ModelConfig, checkpoints: str | None, threads: int) -> dict:
    """Train ``task`` and predict its test period; returns ``{"frame", "history", "best_epoch", ...}``.

    ``threads`` torch threads during the task (the same on every executor, so results are identical)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(bars, task, cfg, checkpoints)
    finally:
        torch.set_num_threads(before)


def run_item(bars: pd.DataFrame, item: tuple[Task, ModelConfig, str | None, int]) -> dict:
    """An executor's unit of work: ``item`` = (task, model config, checkpoint root, torch threads). Lives
    here, not in the driver's module, so a worker unpickling it imports only what training needs."""
    task, cfg, checkpoints, threads = item
    return run_task(bars, task, cfg, checkpoints, threads)


def _run(bars: pd.DataFrame, task: Task, cfg: ModelConfig, checkpoints: str | None) -> dict:
    L = cfg.sequence_length
    device = torch.device("cpu")
    preps = {}
    for sym in task.symbols:
        sub = _slice(bars, sym, task.fold)
        if len(sub) == 0:
            raise ValueError(f"{task.fold.describe()}: no bars for {sym}")
        s = symbol_series(sub, sym)
        preps[sym] = prepare_series(s, task.fold.split(s.timestamps, L), cfg, symbol_digest(sub), task.fold.describe())
    fit = fit_group(task.label(), list(preps.values()), cfg, device)
    if fit.net is None:
        raise RuntimeError(f"{task.label()}: no epoch finished")
    path = None
    if checkpoints:
        path = save_group(
            checkpoint_dir(Path(checkpoints), task.fold) / task.name, fit, preps, cfg, task.name == "pooled", device
        )
    frames = []
    for sym, p in preps.items():
        s, t = p.series, p.test_t
        ws = WindowSet([s], [p.scaler], L)
        z = predict_standardised(fit.net, ws, t, np.zeros(len(t), dtype=np.int64), device)
        close = s.close[t]
        frames.append(
            pd.DataFrame(
                {
                    "symbol": sym,
                    "timestamp": s.timestamps[t],
                    "close": close,
                    "next_close": s.close[t + 1],
                    "prev_close": s.close[t - 1],
                    "last_sign": last_move_sign(s.close)[t],
                    "predicted_close": close * (1.0 + z * p.scaler.target_scale),
                    "confidence": apply_calibration(np.abs(z), fit.calibration),
                    "ar_predicted_close": close * (1.0 + ar_predict(s.close, t, p.ar_coef)),
                }
            )
        )
    return {
        "frame": pd.concat(frames, ignore_index=True),
        "history": fit.history,
        "best_epoch": fit.best_epoch,
        "train_samples": int(sum(len(p.train_t) for p in preps.values())),
        "checkpoint": str(path) if path else None,
    }
