"""Walk-forward evaluation: calendar folds shared by every symbol, one training task per fold x symbol on a
serial, process-pool or Ray executor, per-fold and pooled figures beside the baselines, stitched
out-of-sample trading and significance tests. See ``docs/walkforward.md``.

Public API::

    make_folds(first, last, *, train_days, test_days, step_days=None, val_days=None) -> list[Fold]
    run_walkforward(bars, spec, cfg, *, executor, out_dir, log=None) -> WalkForwardResult
    make_executor(name, *, workers=None, address=None) -> Executor
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy (PEP 562): a worker that unpickles ``tasks.run_item`` imports this package, and should not pay
# for the driver's scoring, backtest and scipy imports.
_EXPORTS = {
    "EXECUTORS": "executors",
    "Executor": "executors",
    "make_executor": "executors",
    "Fold": "folds",
    "make_folds": "folds",
    "WalkForwardResult": "run",
    "WalkForwardSpec": "run",
    "run_walkforward": "run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
