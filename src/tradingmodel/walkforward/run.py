"""The walk-forward use case (the driver): folds → tasks on an executor → scores, trading, significance.

Only this driver writes: finished task results (:class:`~tradingmodel.walkforward.store.TaskStore`), each
fold's checkpoint manifest (once, after its tasks), and - through the CLI - the run folder. Workers
write nothing but their own checkpoint directory. A task already finished by an earlier run with the same
key is loaded instead of trained again; a failing task is reported with its fold and the others finish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tradingmodel.config import AppConfig
from tradingmodel.model.checkpoint import write_manifest
from tradingmodel.walkforward import scoring
from tradingmodel.walkforward.executors import Executor
from tradingmodel.walkforward.folds import Fold, make_folds
from tradingmodel.walkforward.store import TaskStore
from tradingmodel.walkforward.tasks import Task, checkpoint_dir, make_tasks, run_item

STRATEGIES_PER_RUN = 2  # the LSTM and the AR(20) baseline, both through the strategy: two Sharpes looked at


@dataclass
class WalkForwardSpec:
    """The fold layout and the run's options (days are calendar days, fractions allowed)."""

    train_days: float
    test_days: float
    step_days: float | None = None
    val_days: float | None = None
    pooled: bool = False
    threads: int = 1  # torch threads per task, on every executor (identical results)
    trials: int | None = None  # configurations tried in total (default: this run's strategies)
    n_boot: int = 2000


@dataclass
class WalkForwardResult:
    """Everything the CLI prints and the run folder stores."""

    summary: dict  # JSON-ready: folds, pooled, stitched, significance, words, tasks, failures
    predictions: pd.DataFrame  # every test prediction, with ``fold``
    equity: pd.DataFrame | None  # stitched: timestamp, equity, buy_and_hold, ar_equity, fold, ...
    trades: pd.DataFrame | None
    traded_bars: pd.DataFrame | None
    history: dict[str, list[dict]] = field(default_factory=dict)


def _symbols(bars: pd.DataFrame) -> list[str]:
    if "symbol" not in bars.columns or "timestamp" not in bars.columns or len(bars) == 0:
        raise ValueError("bars: need rows with symbol and timestamp columns")
    return sorted(pd.unique(bars["symbol"]).tolist())


def folds_for(bars: pd.DataFrame, spec: WalkForwardSpec) -> list[Fold]:
    """Calendar folds over the bars' whole time range (shared by every symbol)."""
    ts = pd.to_datetime(bars["timestamp"], utc=True)
    return make_folds(
        ts.min(),
        ts.max(),
        train_days=spec.train_days,
        test_days=spec.test_days,
        step_days=spec.step_days,
        val_days=spec.val_days,
    )


def run_walkforward(
    bars: pd.DataFrame,
    spec: WalkForwardSpec,
    cfg: AppConfig,
    *,
    executor: Executor,
    out_dir: str | Path,
    log: Callable[[str], None] | None = None,
) -> WalkForwardResult:
    """Run every (fold, symbol) task not finished before, then score, trade and test the run."""
    say = log or (lambda _msg: None)
    out = Path(out_dir)
    bars = bars.assign(timestamp=pd.to_datetime(bars["timestamp"], utc=True))
    symbols = _symbols(bars)
    folds = folds_for(bars, spec)
    tasks = make_tasks(bars, folds, symbols, cfg.model, spec.pooled)
    store = TaskStore(out)
    todo = [t for t in tasks if not store.finished(t.key)]
    say(
        f"{len(folds)} folds x {len(tasks) // len(folds)} task(s): {len(tasks)} tasks, "
        f"{len(tasks) - len(todo)} finished before, {len(todo)} to run on {executor.name} ({executor.workers} "
        "worker(s))"
    )
    failures = []
    items = [(t, cfg.model, str(out / "checkpoints"), spec.threads) for t in todo]
    for i, result, err in executor.run(run_item, bars, items):
        task = todo[i]
        if err is not None:
            failures.append({"fold": task.fold.index, "symbol": task.name, "error": f"{type(err).__name__}: {err}"})
            say(f"failed: {task.label()}: {err}")
            continue
        store.save(task, result)  # the driver writes; a kill after this line keeps the task
        say(f"done: {task.label()}")
    failures.sort(key=lambda f: (f["fold"], f["symbol"]))  # in task order, whatever order workers finished in
    return _assemble(bars, folds, tasks, store, cfg, spec, failures, ran=len(todo), out=out)


def _assemble(
    bars: pd.DataFrame,
    folds: list[Fold],
    tasks: list[Task],
    store: TaskStore,
    cfg: AppConfig,
    spec: WalkForwardSpec,
    failures: list[dict],
    ran: int,
    out: Path,
) -> WalkForwardResult:
    results = {t.key: store.load(t.key) for t in tasks if store.finished(t.key)}
    frames, fold_trades, fold_rows, history = [], [], [], {}
    for fold in folds:
        done = [t for t in tasks if t.fold == fold and t.key in results]
        if not done:
            continue
        ck = {s: Path(results[t.key]["checkpoint"]) for t in done for s in t.symbols if results[t.key]["checkpoint"]}
        if ck:
            write_manifest(checkpoint_dir(out / "checkpoints", fold), spec.pooled, ck)  # once per fold
        f = pd.concat([results[t.key]["frame"] for t in done], ignore_index=True)
        f["timestamp"] = pd.to_datetime(f["timestamp"], utc=True)
        f = f.sort_values(["symbol", "timestamp"], ignore_index=True)
        ft = scoring.trade_fold(bars, f, fold, cfg.trading) if len(f) else None
        fold_rows.append(scoring.fold_summary(fold, f, ft))
        if ft is not None:
            fold_trades.append(ft)
        frames.append(f.assign(fold=fold.index))
        for t in done:
            history[f"fold {fold.index} {t.name}"] = results[t.key]["history"]
    if not frames:
        raise ValueError(
            "every walk-forward task failed: "
            + "; ".join(f"fold {x['fold']} {x['symbol']}: {x['error']}" for x in failures[:3])
        )
    pred = pd.concat(frames, ignore_index=True)
    st = scoring.stitch(fold_trades, cfg.trading.deposit) if fold_trades else None
    trials = spec.trials or STRATEGIES_PER_RUN
    summary = {
        "folds": fold_rows,
        "pooled": scoring.model_scores(pred),
        "stitched": {"model": st.model, "ar": st.ar} if st else None,
        "significance": scoring.significance(pred, st, trials, n_boot=spec.n_boot, seed=cfg.model.seed),
        "tasks": {"total": len(tasks), "ran": ran, "skipped": len(tasks) - ran, "failed": len(failures)},
        "failures": failures,
        "spec": {
            "train_days": spec.train_days,
            "val_days": spec.val_days or spec.test_days,
            "test_days": spec.test_days,
            "step_days": spec.step_days or spec.test_days,
            "pooled": spec.pooled,
            "threads_per_task": spec.threads,
            "trials": trials,
        },
        "checkpoints": str(out / "checkpoints"),
    }
    summary["words"] = scoring.plain_words(summary)
    traded = pd.concat([ft.bars for ft in fold_trades], ignore_index=True) if fold_trades else None
    return WalkForwardResult(summary, pred, st.equity if st else None, st.trades if st else None, traded, history)
