"""Training jobs: the ``training_jobs`` rows and the one list of their statuses.

A job's life: ``queued`` → ``running`` (claimed by one worker) → one of :data:`JOB_TERMINAL`. The API's
job service (:mod:`tradingmodel.services.training`) writes these rows with progress and events; the
functions here are the plain repository (same conventions as :mod:`tradingmodel.store.repos`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine

from tradingmodel.store.repos import _insert_id, _newest, _update_one
from tradingmodel.store.schema import TrainingJob, utcnow
from tradingmodel.store.sql import json_safe
from tradingmodel.store.types import StoreError, parse_timeframe

JOB_TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
JOB_STATUSES = ("queued", "running", *JOB_TERMINAL)


def save_training_job(
    engine: Engine | Connection,
    symbols: Iterable[str],
    config_toml: str,
    *,
    timeframe: str = "1m",
    data_hash: str | None = None,
) -> int:
    """Queue a training job; returns its id."""
    return _insert_id(
        engine,
        TrainingJob.__table__,
        dict(
            status="queued",
            symbols=list(symbols),
            timeframe=parse_timeframe(timeframe)[0],
            config_toml=config_toml,
            data_hash=data_hash,
            metrics={},
            created_at=utcnow(),
        ),
    )


def update_training_job(
    engine: Engine | Connection,
    job_id: int,
    status: str,
    *,
    model_id: int | None = None,
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Move a job to ``running`` or one of :data:`JOB_TERMINAL`, recording its times, model, metrics, error."""
    if status not in JOB_STATUSES:
        raise StoreError(f"training job status must be one of {', '.join(JOB_STATUSES)}, got {status!r}")
    values: dict[str, Any] = {"status": status}
    if status == "running":
        values["started_at"] = utcnow()
    elif status in JOB_TERMINAL:
        values["finished_at"] = utcnow()
    if model_id is not None:
        values["model_id"] = model_id
    if metrics is not None:
        values["metrics"] = json_safe(metrics)
    if error is not None:
        values["error"] = error
    _update_one(engine, TrainingJob.__table__, job_id, values, "training job")


def list_training_jobs(
    engine: Engine | Connection, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Training jobs, newest first, optionally only those with ``status``."""
    return _newest(engine, TrainingJob, limit, status=status)
