"""A training worker: ``python -m tradingmodel.jobs.worker --database-url URL --models DIR [--parent PID]``.

Loops: claim the oldest queued job, run it (:func:`tradingmodel.services.training.run_job`), repeat; polls
every ``--poll`` seconds when idle. It stops when its parent (the server) is gone or on SIGTERM/SIGINT;
a job it was running is then marked ``interrupted`` at the next batch. One torch thread and a niceness of
10 by default, so a training job leaves the other cores to the API and yields the CPU to its requests.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


class _Stop:
    """Whether the worker should stop: a signal arrived or the parent process is gone."""

    def __init__(self, parent: int | None) -> None:
        self.parent = parent
        self.signalled = False

    def __call__(self) -> bool:
        return self.signalled or (self.parent is not None and os.getppid() != self.parent)


def main(argv: list[str] | None = None) -> int:
    """Run the worker loop until told to stop; returns the exit status."""
    ap = argparse.ArgumentParser(prog="tradingmodel.jobs.worker")
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--models", required=True, type=Path)
    ap.add_argument("--parent", type=int, default=None)
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nice", type=int, default=10, help="scheduling niceness added (the API's requests first)")
    args = ap.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    stop = _Stop(args.parent)

    def _on_signal(*_: object) -> None:
        stop.signalled = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    import torch

    torch.set_num_threads(max(1, args.threads))
    from tradingmodel.services.training import claim_next, run_job
    from tradingmodel.store import get_engine

    engine = get_engine(args.database_url)
    args.models.mkdir(parents=True, exist_ok=True)
    while not stop():
        job = claim_next(engine, os.getpid())
        if job is None:
            time.sleep(args.poll)
            continue
        run_job(engine, job, args.models, abort=stop)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
