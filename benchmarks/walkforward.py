"""Walk-forward wall time on each executor, Ray's per-task overhead and training samples/s per core.

Prints one line per figure: ``<figure>: <value> <unit> = <ratio>x <reference>``, every reference measured
in this run:

* wall time of the same 8-symbol x 4-fold walk-forward (simulated 15-minute bars, a small LSTM) on
  ``serial``, ``process`` (2 workers) and ``ray`` (a local instance with 2 CPUs), as a speed-up ratio to
  serial. The pool's and Ray's start-up (spawning workers, importing torch there) is inside the figure:
  that is what a user waits for. Each run uses a fresh output folder (no task is skipped).
* Ray's per-task overhead: the mean wall time of a no-op task round trip (submit, schedule, run, get)
  beside a direct Python call of the same function.
* training samples/s per core: the median over all tasks and epochs of the training loop's samples/s,
  with the torch thread count the executor sets (1 per task), beside the same figure on the serial run.
* process-pool start-up: the wall time until both of 2 fresh workers have imported what a training task
  imports (torch, ``torch._dynamo``, the training code), for spawned workers (every worker a fresh
  interpreter) and for workers forked from the fork server (the default: the server imports once; its
  first pool includes starting it), and the same walk-forward on a spawned pool.

Usage: ``python benchmarks/walkforward.py [--symbols 8] [--epochs 3] [--skip-ray]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.walkforward.conftest helpers

from tests.walkforward.conftest import app_config, coarse_bars  # noqa: E402
from tradingmodel.walkforward import WalkForwardSpec, make_executor, run_walkforward  # noqa: E402
from tradingmodel.walkforward.executors import ProcessExecutor, ready  # noqa: E402


def _noop(shared: object, item: int) -> int:
    return item


def _timed(name: str, bars, cfg, spec, root: Path, executor=None, **kw) -> tuple[float, dict]:
    out = root / f"{name}-{len(list(root.iterdir()))}"
    t0 = time.perf_counter()
    with executor or make_executor(name, **kw) as ex:
        r = run_walkforward(bars, spec, cfg, executor=ex, out_dir=out)
    return time.perf_counter() - t0, r.history


def _startup(start_method: str) -> float:
    """Seconds until 2 fresh workers have each imported what a task imports."""
    t0 = time.perf_counter()
    pids = {pid for _, pid, _ in ProcessExecutor(2, start_method).run(ready, None, [0.5, 0.5])}
    assert len(pids) == 2, pids
    return time.perf_counter() - t0


def _rate(history: dict) -> float:
    return statistics.median(h["samples_per_s"] for hs in history.values() for h in hs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    syms = [f"S{i:02d}" for i in range(args.symbols)]
    bars = coarse_bars(syms, 32, seed=9, signal=1.0)  # 44 calendar days: 4 folds of 7-day test periods
    cfg = app_config(num_epochs=args.epochs, patience=args.epochs, hidden_size=16)
    spec = WalkForwardSpec(train_days=14, val_days=7, test_days=7, n_boot=500)
    root = Path(tempfile.mkdtemp(prefix="wf-bench-"))
    try:
        spawn_up = _startup("spawn")
        print(f"process pool start-up, spawned (2 workers ready): {spawn_up:.1f} s = 1.00x spawned")
        serial, hist = _timed("serial", bars, cfg, spec, root)
        n = sum(1 for k in hist)
        print(f"walk-forward {args.symbols} symbols x 4 folds ({n} tasks) serial: {serial:.1f} s = 1.00x serial")
        # the default pool: forked from the fork server, started here (included, as a command-line run pays it)
        proc, phist = _timed("process", bars, cfg, spec, root, workers=2)
        print(f"walk-forward process (2 workers, fork server): {proc:.1f} s = {serial / proc:.2f}x serial speed")
        again = _startup("forkserver")
        print(
            f"process pool start-up, fork server running (2 workers ready): {again:.2f} s "
            f"= {spawn_up / again:.0f}x spawned speed"
        )
        spawned, _ = _timed("spawn", bars, cfg, spec, root, executor=ProcessExecutor(2, "spawn"))
        print(
            f"walk-forward process (2 spawned workers, before): {spawned:.1f} s = {serial / spawned:.2f}x serial speed"
        )
        if not args.skip_ray:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray_t, _ = _timed("ray", bars, cfg, spec, root, workers=2)
            print(f"walk-forward ray (local, 2 CPUs): {ray_t:.1f} s = {serial / ray_t:.2f}x serial speed")
            with make_executor("ray", workers=2) as ex:
                list(ex.run(_noop, None, list(range(20))))  # warm the workers
                n = 200
                t0 = time.perf_counter()
                list(ex.run(_noop, None, list(range(n))))
                per_task = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            for i in range(n):
                _noop(None, i)
            direct = max((time.perf_counter() - t0) / n, 1e-9)
            print(f"ray per-task overhead: {per_task * 1e3:.2f} ms = {per_task / direct:,.0f}x a direct call")
        print(
            f"training samples/s per core (process, 1 torch thread per task): {_rate(phist):,.0f} samples/s "
            f"= {_rate(phist) / _rate(hist):.2f}x serial"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
