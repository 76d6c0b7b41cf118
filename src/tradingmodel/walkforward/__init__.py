"""Walk-forward evaluation: calendar folds shared by every symbol, one training task per fold x symbol on a
serial, process-pool or Ray executor, per-fold and pooled figures beside the baselines, stitched
out-of-sample trading and significance tests. See ``docs/walkforward.md``.

Public API::

    make_folds(first, last, *, train_days, test_days, step_days=None, val_days=None) -> list[Fold]
    run_walkforward(bars, spec, cfg, *, executor, out_dir, log=None) -> WalkForwardResult
    make_executor(name, *, workers=None, address=None) -> Executor
"""

from tradingmodel.walkforward.executors import EXECUTORS, Executor, make_executor
from tradingmodel.walkforward.folds import Fold, make_folds
from tradingmodel.walkforward.run import WalkForwardResult, WalkForwardSpec, run_walkforward

__all__ = [
    "EXECUTORS",
    "Executor",
    "Fold",
    "WalkForwardResult",
    "WalkForwardSpec",
    "make_executor",
    "make_folds",
    "run_walkforward",
]
