"""Start, supervise and stop the training worker processes of one server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tradingmodel.services.training import recover
from tradingmodel.store import get_engine

STOP_TIMEOUT_S = 15.0
SUPERVISE_S = 1.0  # how often the supervisor looks at the workers and the running jobs' heartbeats
RESTART_BACKOFF_S = 5.0  # a worker slot is restarted at most this often (a worker that cannot start)

log = logging.getLogger("tradingmodel.jobs")


class WorkerPool:
    """``n`` worker processes on ``database_url``, writing checkpoints under ``models_dir``.

    :meth:`start` first marks jobs left ``running`` by a dead worker as ``interrupted`` (a server killed
    during a job), then starts the workers and a supervisor thread. The supervisor, every
    :data:`SUPERVISE_S`, reaps workers that died (killed, out of memory, crashed), marks the jobs they
    were running ``interrupted`` at once (:func:`~tradingmodel.services.training.recover`: process gone
    or heartbeat stale) and starts a replacement, so the server keeps running jobs without a restart.
    :meth:`stop` asks the workers to stop (SIGTERM: the running job is marked ``interrupted`` at its next
    batch) and kills those that do not within :data:`STOP_TIMEOUT_S`.
    """

    def __init__(self, database_url: str, models_dir: Path, n: int = 1, supervise_s: float = SUPERVISE_S) -> None:
        self.database_url, self.models_dir, self.n = database_url, Path(models_dir), n
        self.supervise_s = supervise_s
        self.procs: list[subprocess.Popen[bytes]] = []
        self.interrupted: list[int] = []  # every job this pool marked interrupted
        self._started_at: list[float] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _cmd(self) -> list[str]:
        return [
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

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._cmd(), stdin=subprocess.DEVNULL)

    def start(self) -> list[int]:
        """Recover orphaned jobs, start the workers and the supervisor; returns the ids of the jobs
        marked interrupted now."""
        interrupted = recover(get_engine(self.database_url))
        self.interrupted += interrupted
        with self._lock:
            self.procs = [self._spawn() for _ in range(self.n)]
            self._started_at = [time.monotonic()] * self.n
        self._stopping.clear()
        self._thread = threading.Thread(target=self._supervise, name="training-supervisor", daemon=True)
        self._thread.start()
        return interrupted

    def alive(self) -> int:
        """How many workers are running."""
        with self._lock:
            return sum(p.poll() is None for p in self.procs)

    def pids(self) -> list[int]:
        """The process ids of the current workers."""
        with self._lock:
            return [p.pid for p in self.procs]

    def check(self) -> list[int]:
        """One supervision pass: reap dead workers, mark orphaned or stale jobs ``interrupted`` (returned),
        stop a live worker of ours whose job was marked stale, and restart the slots of dead workers."""
        with self._lock:
            dead = [(p.pid, p.returncode) for p in self.procs if p.poll() is not None]  # poll() reaps
        for pid, code in dead:
            log.warning("training worker %s exited with %s", pid, code)
        interrupted = recover(get_engine(self.database_url))
        if interrupted:
            log.warning("marked training job(s) %s interrupted: their worker is gone or silent", interrupted)
            self.interrupted += interrupted
            self._stop_silent(interrupted)
        now = time.monotonic()
        with self._lock:
            for i, p in enumerate(self.procs):
                if self._stopping.is_set() or p.poll() is None or now - self._started_at[i] < RESTART_BACKOFF_S:
                    continue
                self.procs[i] = self._spawn()
                self._started_at[i] = now
                log.warning("started training worker %s in place of %s", self.procs[i].pid, p.pid)
        return interrupted

    def _stop_silent(self, job_ids: list[int]) -> None:
        """A worker of ours that is alive but whose job went stale (hung) is killed; its slot restarts."""
        from tradingmodel.services.training import get_job

        pids = {get_job(get_engine(self.database_url), j).get("worker_pid") for j in job_ids}
        with self._lock:
            for p in self.procs:
                if p.pid in pids and p.poll() is None:
                    p.kill()
                    p.wait()

    def _supervise(self) -> None:
        while not self._stopping.wait(self.supervise_s):
            try:
                self.check()
            except Exception:  # the database may be down for a moment: try again at the next pass
                log.exception("training supervisor pass failed")

    def stop(self) -> None:
        """Stop the supervisor and every worker (SIGTERM, then SIGKILL after the timeout)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
        with self._lock:
            procs, self.procs = self.procs, []
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
