"""Training jobs: rows of ``training_jobs`` queued by the API and run by a separate worker process.

Life of a job: ``queued`` → ``running`` (claimed by one worker, atomically) → ``succeeded`` | ``failed`` |
``cancelled`` | ``interrupted``. While it runs, the worker writes each epoch's progress (model, epoch,
losses, samples/s) to the row and appends a ``job`` event in the same transaction, refreshes
``heartbeat_at`` at least every :data:`HEARTBEAT_S` seconds and reads ``cancel_requested`` between
batches. A job whose worker is gone (its process no longer exists, or its heartbeat is older than
:data:`STALE_S`) is marked ``interrupted`` by :func:`recover`, which the server runs when it starts: a
job is never left ``running`` by a server that was killed.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, insert, select, update

from tradingmodel.config import AppConfig, ModelConfig, TradingConfig, config_to_toml
from tradingmodel.services.bars import check_range, check_timeframe
from tradingmodel.services.errors import Conflict, Invalid, NotFound
from tradingmodel.store import bar_coverage, write_transaction
from tradingmodel.store.jobs import JOB_TERMINAL
from tradingmodel.store.schema import Event, TrainingJob, utcnow
from tradingmodel.store.sql import json_safe

HEARTBEAT_S = 1.0
STALE_S = 60.0
MAX_SYMBOLS = 20
MAX_EPOCHS = 1000
_T = TrainingJob.__table__


@dataclass
class JobRequest:
    """What ``POST /model/train`` asks for, checked."""

    symbols: list[str]
    start: str | None
    end: str | None
    timeframe: str
    model: ModelConfig
    pooled: bool


def _event(conn: Connection, job_id: int, data: dict[str, Any]) -> None:
    conn.execute(
        insert(Event.__table__).values(
            run_id=None,
            type="job",
            symbol=None,
            bar_time=None,
            data=json_safe({"job_id": job_id, **data}),
            created_at=utcnow(),
        )
    )


def _set(
    engine: Engine | Connection,
    job_id: int,
    where_status: tuple[str, ...] | None = None,
    *,
    event: bool = True,
    **values: Any,
) -> bool:
    """Update one job (only while its status is in ``where_status``), with a ``job`` event; True if updated."""
    with write_transaction(engine) as conn:
        stmt = update(_T).where(_T.c.id == job_id)
        if where_status is not None:
            stmt = stmt.where(_T.c.status.in_(where_status))
        done = conn.execute(stmt.values(**values)).rowcount == 1
        if done and event:
            row = conn.execute(select(_T.c.status, _T.c.progress).where(_T.c.id == job_id)).one()
            _event(conn, job_id, {"status": row.status, "progress": row.progress})
        return done


def check_request(
    engine: Engine,
    symbols: list[str],
    start: str | None,
    end: str | None,
    params: dict[str, Any] | None,
    timeframe: str = "1m",
) -> JobRequest:
    """Validate a training request: known symbols with bars in the range, model overrides by key."""
    tf = check_timeframe(timeframe)
    syms = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not syms:
        raise Invalid("symbols: give at least one symbol")
    if len(syms) > MAX_SYMBOLS:
        raise Invalid(f"symbols: at most {MAX_SYMBOLS} per job, got {len(syms)}")
    check_range(start, end)
    unknown = [s for s in syms if len(s) > 32 or bar_coverage(engine, s, tf) is None]
    if unknown:
        raise NotFound(f"unknown symbol(s) {', '.join(unknown)}: no {tf} bars stored")
    params = dict(params or {})
    pooled = params.pop("pooled", False)
    if not isinstance(pooled, bool):
        raise Invalid("params.pooled: must be true or false")
    try:
        cfg = ModelConfig.model_validate(params)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "params"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise Invalid(f"params.{key}: {msg}") from None
    if cfg.num_epochs > MAX_EPOCHS:
        raise Invalid(f"params.num_epochs: at most {MAX_EPOCHS}")
    return JobRequest(syms, start, end, tf, cfg, pooled)


def submit(engine: Engine, req: JobRequest, trading: TradingConfig) -> int:
    """Queue a checked request; returns the job id."""
    toml = config_to_toml(AppConfig(model=req.model, trading=trading))
    params = {
        "start": req.start,
        "end": req.end,
        "pooled": req.pooled,
        "model": req.model.model_dump(exclude_unset=True),
    }
    with write_transaction(engine) as conn:
        job_id = int(
            conn.execute(
                insert(_T)
                .values(
                    status="queued",
                    symbols=req.symbols,
                    timeframe=req.timeframe,
                    config_toml=toml,
                    metrics={},
                    params=params,
                    cancel_requested=False,
                    created_at=utcnow(),
                )
                .returning(_T.c.id)
            ).scalar_one()
        )
        _event(conn, job_id, {"status": "queued", "progress": None})
    return job_id


def get_job(engine: Engine, job_id: int) -> dict[str, Any]:
    """One job as a dict; :class:`NotFound` when there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(_T).where(_T.c.id == job_id)).first()
    if row is None:
        raise NotFound(f"no training job with id {job_id}")
    return dict(row._mapping)


def cancel(engine: Engine, job_id: int) -> dict[str, Any]:
    """Cancel a job: a queued one at once, a running one at its next batch. :class:`Conflict` when it has
    already ended."""
    job = get_job(engine, job_id)
    if _set(engine, job_id, ("queued",), status="cancelled", finished_at=utcnow(), error="cancelled"):
        return get_job(engine, job_id)
    if _set(engine, job_id, ("running",), event=False, cancel_requested=True):
        return get_job(engine, job_id)
    raise Conflict(
        f"training job {job_id} has already ended ({get_job(engine, job_id)['status']})"
        if job["status"] in JOB_TERMINAL
        else f"training job {job_id} cannot be cancelled now"
    )


def claim_next(engine: Engine, pid: int) -> dict[str, Any] | None:
    """Take the oldest queued job for worker ``pid`` (atomically: one worker per job), or ``None``."""
    for _ in range(5):
        with engine.connect() as conn:
            job_id = conn.execute(
                select(_T.c.id).where(_T.c.status == "queued").order_by(_T.c.created_at, _T.c.id).limit(1)
            ).scalar()
        if job_id is None:
            return None
        now = utcnow()
        if _set(engine, job_id, ("queued",), status="running", worker_pid=pid, started_at=now, heartbeat_at=now):
            return get_job(engine, job_id)
    return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(engine: Engine) -> list[int]:
    """Mark ``running`` jobs whose worker is gone as ``interrupted``; returns their ids."""
    with engine.connect() as conn:
        rows = conn.execute(select(_T.c.id, _T.c.worker_pid, _T.c.heartbeat_at).where(_T.c.status == "running")).all()
    stale = utcnow() - timedelta(seconds=STALE_S)
    gone = [r.id for r in rows if not _alive(r.worker_pid) or r.heartbeat_at is None or r.heartbeat_at < stale]
    return [
        j
        for j in gone
        if _set(
            engine,
            j,
            ("running",),
            status="interrupted",
            finished_at=utcnow(),
            error="the worker stopped while the job ran (killed, crashed, or its server restarted)",
        )
    ]


class _Watch:
    """The ``should_stop`` hook: every :data:`HEARTBEAT_S` refreshes the heartbeat and reads the cancel
    flag; ``abort`` (the worker's own stop: parent gone, SIGTERM) is checked on every call."""

    def __init__(self, engine: Engine, job_id: int, abort: Callable[[], bool]) -> None:
        self.engine, self.job_id, self.abort = engine, job_id, abort
        self.cancelled = self.aborted = False
        self._next = 0.0

    def __call__(self) -> bool:
        if self.abort():
            self.aborted = True
            return True
        now = time.monotonic()
        if now >= self._next:
            self._next = now + HEARTBEAT_S
            with write_transaction(self.engine) as conn:
                conn.execute(update(_T).where(_T.c.id == self.job_id).values(heartbeat_at=utcnow()))
                self.cancelled = bool(
                    conn.execute(select(_T.c.cancel_requested).where(_T.c.id == self.job_id)).scalar()
                )
        return self.cancelled


def finish_job(conn: Engine | Connection, job_id: int, model_id: int | None, metrics: dict[str, Any]) -> bool:
    """Mark running job ``job_id`` ``succeeded`` with its model and metrics (in the caller's transaction,
    beside the model's registration: :func:`tradingmodel.services.records.record_run`)."""
    return _set(
        conn,
        job_id,
        ("running",),
        status="succeeded",
        model_id=model_id,
        metrics=json_safe(metrics),
        finished_at=utcnow(),
    )


def run_job(engine: Engine, job: dict[str, Any], models_dir: Path, abort: Callable[[], bool] = lambda: False) -> str:
    """Train a claimed job through :func:`tradingmodel.services.modeling.train_model` (progress per epoch
    to the row, the cancel flag read between batches), register the model with its evaluation and finish
    the row in one call; returns the final status."""
    from tradingmodel.services.inputs import BarSource, load_input_bars
    from tradingmodel.services.modeling import TrainRequest, train_model

    job_id = int(job["id"])
    watch = _Watch(engine, job_id, abort)

    def on_epoch(rec: dict[str, Any]) -> None:
        _set(engine, job_id, ("running",), progress=json_safe(rec), heartbeat_at=utcnow())

    try:
        params = job["params"] or {}
        cfg = ModelConfig.model_validate(params.get("model") or {})
        trading = AppConfig.model_validate(tomllib.loads(job["config_toml"] or "")).trading
        url = engine.url.render_as_string(hide_password=False)
        src = BarSource(
            symbols=job["symbols"],
            start=params.get("start"),
            end=params.get("end"),
            timeframe=job["timeframe"],
            database_url=url,
        )
        loaded = load_input_bars(src)
        trained = train_model(
            TrainRequest(
                loaded.bars,
                loaded.source,
                AppConfig(model=cfg, trading=trading),
                models_dir / f"job-{job_id}",
                pooled=bool(params.get("pooled")),
                on_epoch=on_epoch,
                should_stop=watch,
                evaluate=True,
                engine=engine,
                name=f"job-{job_id}",
                job_id=job_id,
                timeframe=job["timeframe"],
            )
        )
        if trained.interrupted:
            raise KeyboardInterrupt
        return "succeeded" if "training_jobs" in trained.recorded.rows else get_job(engine, job_id)["status"]
    except KeyboardInterrupt:
        status = "interrupted" if watch.aborted else "cancelled"
        _set(
            engine,
            job_id,
            ("running",),
            status=status,
            finished_at=utcnow(),
            error="cancelled" if status == "cancelled" else "the worker was stopped while the job ran",
        )
        return status
    except Exception as e:  # a job's failure is recorded on its row, never kills the worker
        msg = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
        _set(engine, job_id, ("running",), status="failed", error=msg[:2000], finished_at=utcnow())
        return "failed"
