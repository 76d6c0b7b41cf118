"""Record a run: its folder (``reports/<run-id>/``, :func:`tradingmodel.report.write_run_folder`) and its
database rows (``runs`` for a backtest, ``models`` for a trained model, the ``training_jobs`` row of a job)
written by one call, so the two never tell different stories.

The folder is written first (atomically: it appears complete or not at all), then the rows in one
transaction: a folder that fails to write leaves no row, and rows that fail to commit remove the folder
again. The database's write lock is not held while the report is built.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tradingmodel.config import AppConfig, config_to_toml
from tradingmodel.report.runs import RunOutputs


@dataclass(frozen=True)
class ModelEntry:
    """A trained model to register in ``models``: checkpoint folder, name, metrics (evaluation)."""

    path: Path
    name: str
    metrics: dict[str, Any]
    symbols: list[str]
    timeframe: str = "1m"


@dataclass
class Recorded:
    """Where the run went: its folder (``None`` without one), its ``runs`` row id, its ``models`` row id."""

    run_dir: Path | None = None
    run_id: int | None = None
    model_id: int | None = None
    job_id: int | None = None
    rows: list[str] = field(default_factory=list)  # the tables written, e.g. ["runs"]


def record_run(
    kind: str,
    *,
    config: AppConfig | None,
    provenance: dict[str, Any],
    outputs: RunOutputs,
    reports: Path | None = None,
    engine: Engine | None = None,
    model: ModelEntry | None = None,
    job_id: int | None = None,
    timeframe: str = "1m",
) -> Recorded:
    """Write the run folder under ``reports`` (when given) and, on ``engine`` (when given), the ``runs``
    row of a backtest, the ``models`` row of ``model`` and the final state of training job ``job_id``
    (``succeeded``, with the model and its metrics; only while the job is still ``running``)."""
    from tradingmodel.report import write_run_folder
    from tradingmodel.store import save_model, save_run_row, write_transaction

    rec = Recorded(job_id=job_id)

    def folder() -> Path | None:
        if reports is None:
            return None
        return write_run_folder(kind, root=reports, config=config, provenance=provenance, **outputs.parts())

    if engine is None:
        rec.run_dir = folder()
        return rec
    toml = config_to_toml(config) if config is not None else ""
    data_hash = provenance.get("bars_sha256")
    rec.run_dir = folder()
    try:
        with write_transaction(engine) as conn:
            if model is not None:
                rec.model_id = save_model(
                    conn,
                    model.name,
                    str(model.path.resolve()),
                    model.metrics,
                    symbols=model.symbols,
                    timeframe=model.timeframe,
                    config_toml=toml,
                    data_hash=data_hash,
                )
                rec.rows.append("models")
            if kind == "backtest":
                bars = outputs.bars
                rec.run_id = save_run_row(
                    conn,
                    kind,
                    toml,
                    outputs.trading_metrics or {},
                    data_hash,
                    symbols=sorted(bars["symbol"].unique()) if bars is not None and len(bars) else [],
                    timeframe=timeframe,
                    data_start=bars["timestamp"].min() if bars is not None and len(bars) else None,
                    data_end=bars["timestamp"].max() if bars is not None and len(bars) else None,
                    model_id=rec.model_id,
                    notes=f"run folder {rec.run_dir}" if rec.run_dir is not None else None,
                )
                rec.rows.append("runs")
            if job_id is not None:
                from tradingmodel.services.training import finish_job

                if finish_job(conn, job_id, rec.model_id, model.metrics if model is not None else {}):
                    rec.rows.append("training_jobs")
    except BaseException:
        if rec.run_dir is not None:
            shutil.rmtree(rec.run_dir, ignore_errors=True)
            rec.run_dir = None
        raise
    return rec
