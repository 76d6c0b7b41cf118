"""Start, watch and stop the training worker processes of one server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tradingmodel.services.training import recover
from tradingmodel.store import get_engine

STOP_TIMEOUT_S = 15.0


class WorkerPool:
    """``n`` worker processes on ``database_url``, writing checkpoints under ``models_dir``.

    :meth:`start` first marks jobs left ``running`` by a dead worker as ``interrupted`` (a server killed
    during a job), then starts the workers; :meth:`stop` asks them to stop (SIGTERM: the running job is
    marked ``interrupted`` at its next batch) and kills those that do not within :data:`STOP_TIMEOUT_S`.
    """

    def __init__(self, database_url: str, models_dir: Path, n: int = 1) -> None:
        self.database_url, self.models_dir, self.n = database_url, Path(models_dir), n
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> list[int]:
        """Recover orphaned jobs and start the workers; returns the ids of the jobs marked interrupted."""
        interrupted = recover(get_engine(self.database_url))
        cmd = [
            sys.executable,
            "-m",
            "tradingmodel.jobs.worker",
            "--database-url",
            self.database_url,
            "--models",
            str(self.models_dir.resolve()),
            "--parent",
            str(os.getpid()),
        ]
        self.procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL) for _ in range(self.n)]
        return interrupted

    def alive(self) -> int:
        """How many workers are running."""
        return sum(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after the timeout)."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
